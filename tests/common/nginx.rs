//! A real nginx (Debian's package) in front of rwsgi: `uwsgi_pass` to a unix socket with
//! the stock `uwsgi_params`, listening itself on a unix socket so tests need no free port.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{read_response, Response, IO_TIMEOUT};

pub struct Nginx {
    child: Child,
    pub front: PathBuf,
    dir: tempfile::TempDir,
}

/// nginx's own copy of the stock file, as `include uwsgi_params` finds it on Debian.
const UWSGI_PARAMS: &str = "/etc/nginx/uwsgi_params";

impl Nginx {
    pub fn start(upstream: &Path) -> Nginx {
        assert!(
            Path::new("/usr/sbin/nginx").exists() && Path::new(UWSGI_PARAMS).exists(),
            "nginx is not installed: run tests/run, which installs it"
        );
        let dir = tempfile::tempdir().unwrap();
        let front = dir.path().join("front.sock");
        let conf = dir.path().join("nginx.conf");
        let prefix = dir.path().display();
        std::fs::write(
            &conf,
            format!(
                "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
                 \n  client_max_body_size 50m;\n  server {{\n    listen unix:{front};\n    location / {{\n      include {UWSGI_PARAMS};\n      uwsgi_pass unix:{upstream};\n    }}\n  }}\n}}\n",
                front = front.display(),
                upstream = upstream.display(),
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .args(["-p", &prefix.to_string(), "-c", conf.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&front).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, front, dir }
    }

    /// Sends a raw HTTP request to nginx and reads one response.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut stream = UnixStream::connect(&self.front).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(raw).unwrap();
        read_response(&mut BufReader::new(stream), false).expect("a response from nginx")
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
