//! Real frameworks from PyPI behind a real nginx: a Django admin login with CSRF and
//! uploads into Django and Flask (multipart, chunked, raw), each checked by SHA-256.

mod common;

use std::path::Path;
use std::process::Command;

use common::nginx::Nginx;
use common::*;

fn flask_server() -> Server {
    let venv = test_venv();
    server()
        .args(["--virtualenv", venv.to_str().unwrap()])
        .args([
            "--chdir",
            apps_dir().join("flaskapp").to_str().unwrap(),
            "--module",
            "flaskapp:app",
        ])
        .args(["--processes", "2"])
        .workers(2)
        .uwsgi()
        .http()
        .start()
}

fn post(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw =
        format!("POST {path} HTTP/1.1\r\nHost: example.org\r\n{headers}Connection: close\r\n\r\n")
            .into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn test_data(size: usize, seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..size)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 16) as u8
        })
        .collect()
}

#[test]
fn flask_uploads_through_nginx_and_directly() {
    let server = flask_server();
    let nginx = Nginx::start(server.uwsgi.as_ref().unwrap());
    let data = test_data(5 * 1024 * 1024, 7);
    let digest = sha256_hex(&data);
    let boundary = "rwsgi-boundary-1234";
    let form = multipart(boundary, "big.bin", &data, "five mebibytes");
    let multipart_request = post(
        "/upload",
        &format!(
            "Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n",
            form.len()
        ),
        &form,
    );
    let raw_request = post(
        "/raw",
        &format!(
            "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
            data.len()
        ),
        &data,
    );
    let chunked_request = post(
        "/raw",
        "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n",
        &chunked(&data, 100_000),
    );

    for (via, send) in [
        (
            "nginx",
            Box::new(|raw: &[u8]| nginx.request(raw)) as Box<dyn Fn(&[u8]) -> Response>,
        ),
        (
            "http-socket",
            Box::new(|raw: &[u8]| request_bytes(server.addr(), raw)),
        ),
    ] {
        let response = send(&multipart_request);
        assert_eq!(
            response.status,
            200,
            "{via}: {}\n{}",
            response.text(),
            server.log()
        );
        assert_eq!(
            response.text(),
            format!("big.bin {digest} five mebibytes"),
            "{via} multipart"
        );
        let response = send(&raw_request);
        assert_eq!(
            response.text(),
            format!("{} {digest}", data.len()),
            "{via} raw"
        );
        let response = send(&chunked_request);
        assert_eq!(
            response.text(),
            format!("{} {digest}", data.len()),
            "{via} chunked"
        );
    }
    let response = nginx.request(
        b"GET /hello/world?q=%C3%A9 HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.text(), "hello world \u{e9}");
    assert!(
        !nginx.error_log().contains("upstream prematurely closed"),
        "{}",
        nginx.error_log()
    );
}

struct DjangoSite {
    db: tempfile::TempDir,
}

impl DjangoSite {
    fn prepare() -> DjangoSite {
        let db = tempfile::tempdir().unwrap();
        let site = apps_dir().join("djangosite");
        let python = test_venv().join("bin/python");
        let manage = |args: &[&str]| {
            let output = Command::new(&python)
                .arg("manage.py")
                .args(args)
                .current_dir(&site)
                .env("RWSGI_TEST_DJANGO_DB", db.path().join("db.sqlite3"))
                .env("DJANGO_SUPERUSER_PASSWORD", "correct horse battery")
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "manage.py {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        manage(&["migrate", "--noinput", "-v", "0"]);
        manage(&[
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            "admin@example.org",
        ]);
        DjangoSite { db }
    }

    fn db_path(&self) -> String {
        self.db.path().join("db.sqlite3").display().to_string()
    }
}

fn cookies(response: &Response) -> Vec<String> {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .collect()
}

fn form_field<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    &html[start..start + html[start..].find('"').unwrap()]
}

#[test]
fn django_admin_login_with_csrf_over_nginx() {
    let site = DjangoSite::prepare();
    let venv = test_venv();
    let server = server()
        .args(["--virtualenv", venv.to_str().unwrap()])
        .args([
            "--chdir",
            apps_dir().join("djangosite").to_str().unwrap(),
            "--module",
            "djangosite.wsgi",
        ])
        .args([
            "--env",
            &format!("RWSGI_TEST_DJANGO_DB={}", site.db_path()),
            "--need-app",
        ])
        .uwsgi()
        .start();
    let nginx = Nginx::start(server.uwsgi.as_ref().unwrap());

    let login_page = nginx.request(b"GET /admin/login/?next=/admin/ HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n");
    assert_eq!(
        login_page.status,
        200,
        "{}\n{}",
        login_page.text(),
        server.log()
    );
    let csrf_cookie = cookies(&login_page)
        .into_iter()
        .find(|c| c.starts_with("csrftoken="))
        .expect("csrftoken cookie");
    let html = login_page.text();
    let token = form_field(&html, "csrfmiddlewaretoken");

    let login = |token: &str, cookie: &str| {
        let form = format!("csrfmiddlewaretoken={token}&username=admin&password=correct+horse+battery&next=%2Fadmin%2F");
        nginx.request(&post(
            "/admin/login/?next=/admin/",
            &format!("Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", form.len()),
            form.as_bytes(),
        ))
    };
    // Without the CSRF cookie Django refuses: the check is real.
    assert_eq!(login(token, "nothing=1").status, 403);
    let logged_in = login(token, &csrf_cookie);
    assert_eq!(logged_in.status, 302, "{}", logged_in.text());
    assert_eq!(logged_in.header("location"), Some("/admin/"));
    let session = cookies(&logged_in)
        .into_iter()
        .find(|c| c.starts_with("sessionid="))
        .expect("session cookie");

    let admin = nginx.request(
        format!("GET /admin/ HTTP/1.1\r\nHost: example.org\r\nCookie: {csrf_cookie}; {session}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(admin.status, 200);
    assert!(
        admin.text().contains("Site administration"),
        "{}",
        admin.text()
    );

    // A 5 MiB multipart upload into Django through nginx.
    let data = test_data(5 * 1024 * 1024, 11);
    let boundary = "django-boundary";
    let form = multipart(boundary, "upload.bin", &data, "hi");
    let response = nginx.request(&post(
        "/upload/",
        &format!(
            "Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n",
            form.len()
        ),
        &form,
    ));
    assert_eq!(
        response.text(),
        format!("[('file', '{}')]|[('note', 'hi')]", sha256_hex(&data))
    );
    assert!(Path::new(&site.db_path()).exists());
}
