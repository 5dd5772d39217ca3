//! The man pages are generated from the option table; these tests keep the committed
//! copies in man/ identical to what the binary generates, check that they name exactly the
//! options the binary accepts, and that groff renders them without warnings.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::bin;

fn generated(section: &str) -> String {
    let output = Command::new(bin())
        .args(["--print-man-page", section])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

fn committed(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name)).unwrap()
}

fn accepted_options() -> BTreeSet<String> {
    let output = Command::new(bin()).arg("--help").output().unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("--"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|name| name != "help" && name != "version" && name != "check")
        .collect()
}

#[test]
fn committed_pages_are_the_generated_ones() {
    for (section, name) in [("8", "rwsgi.8"), ("5", "rwsgi.ini.5")] {
        assert!(
            generated(section) == committed(name),
            "man/{name} is stale: regenerate with `target/release/rwsgi --print-man-page {section} > man/{name}`"
        );
    }
}

#[test]
fn the_ini_page_documents_exactly_the_accepted_options() {
    let page = committed("rwsgi.ini.5");
    let documented: BTreeSet<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix(".SS "))
        .map(|name| name.replace("\\-", "-"))
        .collect();
    let accepted = accepted_options();
    let missing: Vec<_> = accepted.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&accepted).collect();
    assert!(
        missing.is_empty(),
        "accepted but not in rwsgi.ini(5): {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "in rwsgi.ini(5) but not accepted: {unknown:?}"
    );
    for name in &accepted {
        let section = page
            .split(&format!(".SS {}\n", name.replace('-', "\\-")))
            .nth(1)
            .unwrap();
        let section = section.split(".SS ").next().unwrap();
        assert!(section.contains("Type: "), "{name} has no type");
        assert!(section.contains("Example:"), "{name} has no example");
    }
    let server_page = committed("rwsgi.8");
    for name in &accepted {
        assert!(
            server_page.contains(&format!("\\fB\\-\\-{}\\fR", name.replace('-', "\\-"))),
            "rwsgi(8) lacks --{name}"
        );
    }
}

#[test]
fn groff_renders_both_pages_without_warnings() {
    for name in ["rwsgi.8", "rwsgi.ini.5"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(name);
        let output = Command::new("groff")
            .args(["-ww", "-man", "-z"])
            .arg(&path)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(
            output.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn readme_option_table_is_the_generated_one() {
    let output = Command::new(bin())
        .arg("--print-option-table")
        .output()
        .unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let begin = readme.find("<!-- option-table:begin -->\n").unwrap() + 28;
    let end = readme.find("<!-- option-table:end -->").unwrap();
    assert!(
        readme[begin..end] == table,
        "README's option table is stale: replace it with `target/release/rwsgi --print-option-table`"
    );
    for option in accepted_options() {
        assert!(
            table.contains(&format!("| `{option}` |")),
            "{option} missing from the option table"
        );
    }
}
