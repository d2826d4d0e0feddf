//! The `portico` command line, run as a real process on a throwaway SQLite database.

use std::process::{Command, Output};

fn portico(data: &std::path::Path, args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portico"));
    cmd.args(args)
        .env("PORTICO_DATA_DIR", data)
        .env("PORTICO_THEMES_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../themes"))
        .env("PORTICO_CONFIG", data.join("none.toml"))
        .env_remove("PORTICO_DATABASE_URL");
    if let Some(p) = password {
        cmd.env("PORTICO_NEW_PASSWORD", p);
    }
    cmd.output().expect("run portico")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tenants_users_and_template_overrides_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(ok(portico(d, &["migrate"], None)).contains("migrations applied"));
    assert!(
        ok(portico(d, &["tenant", "create", "--slug", "globex", "--name", "Globex"], None))
            .contains("created tenant globex")
    );
    let bad = portico(d, &["tenant", "create", "--slug", "Bad Slug", "--name", "x"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("slug must be"));
    let out = ok(portico(
        d,
        &[
            "user",
            "create",
            "--tenant",
            "globex",
            "--email",
            "boss@globex.example",
            "--name",
            "Boss",
            "--role",
            "vendor_admin",
        ],
        Some("a-long-password"),
    ));
    assert!(out.contains("created user boss@globex.example (vendor_admin)"));
    let short = portico(
        d,
        &[
            "user",
            "create",
            "--tenant",
            "globex",
            "--email",
            "x@globex.example",
            "--name",
            "X",
            "--role",
            "vendor_admin",
        ],
        Some("short"),
    );
    assert!(String::from_utf8_lossy(&short.stderr).contains("use at least 10 characters"));
    assert!(
        ok(portico(d, &["user", "list", "--tenant", "globex"], None))
            .contains("boss@globex.example\tvendor_admin\tactive\tGlobex")
    );
    assert!(ok(portico(d, &["tenant", "list"], None)).contains("globex\tGlobex"));
    assert!(
        ok(portico(
            d,
            &["user", "set-password", "--tenant", "globex", "--email", "boss@globex.example"],
            Some("another-long-one")
        ))
        .contains("password set")
    );

    let tpl = d.join("login.html");
    std::fs::write(&tpl, "{% extends \"layout.html\" %}{% block content %}Globex sign-in{% endblock content %}")
        .unwrap();
    let tpl_arg = tpl.to_str().unwrap();
    assert!(
        ok(portico(d, &["tenant", "template", "--tenant", "globex", "--name", "login.html", "--file", tpl_arg], None))
            .contains("now uses")
    );
    std::fs::write(&tpl, "{% extends \"layout.html\" %}{% block content %}unclosed").unwrap();
    let broken =
        portico(d, &["tenant", "template", "--tenant", "globex", "--name", "login.html", "--file", tpl_arg], None);
    assert!(!broken.status.success(), "a template that does not parse is refused");
    assert!(
        ok(portico(d, &["tenant", "template", "--tenant", "globex", "--name", "login.html", "--remove"], None))
            .contains("removed")
    );
}
