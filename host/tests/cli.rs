//! The `portico` command line, run as a real process on a throwaway SQLite database.

use std::process::{Command, Output};

fn portico(data: &std::path::Path, args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portico"));
    cmd.args(args)
        .env("PORTICO_DATA_DIR", data)
        .env("PORTICO_THEMES_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../themes"))
        .env("PORTICO_CONFIG", data.join("none.toml"))
        // Shared by every test process: the sandboxed renderer and plugins compile once per machine.
        .env("PORTICO_CACHE_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../target/test-artifact-cache"))
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
    // Deleting asks for --yes, then removes the tenant.
    let unconfirmed = portico(d, &["tenant", "delete", "--slug", "globex"], None);
    assert!(!unconfirmed.status.success(), "nothing is deleted without --yes");
    assert!(ok(portico(d, &["tenant", "list"], None)).contains("globex"));
    assert!(ok(portico(d, &["tenant", "delete", "--slug", "globex", "--yes"], None)).contains("deleted tenant globex"));
    assert!(!ok(portico(d, &["tenant", "list"], None)).contains("globex"));
}

#[test]
fn a_scaffolded_plugin_builds_packages_installs_and_enables() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Nothing but the binary: the SDK and the WIT come out of it.
    let out = ok(portico(d, &["plugin", "new", "hello-world", "--dir", d.to_str().unwrap()], None));
    assert!(out.contains("Created") && out.contains("portico plugin dev"), "{out}");
    let crate_dir = d.join("hello-world");
    // Built as its author would, sharing the workspace's target dir for speed.
    let target = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/scaffold"));
    let built = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["plugin", "build", "-o", d.join("hello.tar.gz").to_str().unwrap()])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env("PORTICO_CONFIG", d.join("none.toml"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    assert!(String::from_utf8_lossy(&built.stdout).contains("Built hello-world 0.1.0"));
    let test = Command::new(env!("CARGO"))
        .args(["test", "--lib"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(test.status.success(), "the scaffold's own test passes: {}", String::from_utf8_lossy(&test.stderr));
    // Its scenario runs against a throwaway portal: pages, the JSON route, errors and another org's view.
    let scenario = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["plugin", "test"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env("PORTICO_CONFIG", d.join("none.toml"))
        .env("PORTICO_CACHE_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/../target/test-artifact-cache"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&scenario.stdout);
    assert!(scenario.status.success(), "{report}\n{}", String::from_utf8_lossy(&scenario.stderr));
    assert!(report.contains("All 7 steps passed"), "{report}");
    let package = d.join("hello.tar.gz");
    ok(portico(d, &["tenant", "create", "--slug", "acme", "--name", "Acme"], None));
    let out = ok(portico(d, &["plugin", "install", "--tenant", "acme", package.to_str().unwrap()], None));
    assert!(out.contains("installed hello-world 0.1.0"), "{out}");
    // Enabling needs a program; the tenant has none yet, which is reported.
    let none = portico(d, &["plugin", "enable", "--tenant", "acme", "--plugin", "hello-world"], None);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no program"));
    ok(portico(
        d,
        &[
            "program",
            "create",
            "--tenant",
            "acme",
            "--key",
            "reseller",
            "--name",
            "Reseller",
            "--tiers",
            "Registered, Gold",
        ],
        None,
    ));
    assert!(
        ok(portico(d, &["plugin", "enable", "--tenant", "acme", "--plugin", "hello-world"], None))
            .contains("enabled hello-world in reseller")
    );
    let bad = portico(d, &["plugin", "install", "--tenant", "acme", "/nonexistent.tar.gz"], None);
    assert!(!bad.status.success());
    let listed = ok(portico(d, &["plugin", "list", "--tenant", "acme"], None));
    assert!(listed.contains("hello-world\t0.1.0\tenabled in: reseller"), "{listed}");
}

#[test]
fn a_failed_command_says_what_is_wrong_in_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(args)
            .current_dir(d)
            .env("PORTICO_DATA_DIR", d)
            .env("PORTICO_CONFIG", d.join("none.toml"))
            .env("RUST_BACKTRACE", "1")
            .env_remove("PORTICO_DATABASE_URL")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} fails");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (args, says) in [
        (vec!["plugin", "build"], "holds no plugin.toml"),
        (vec!["plugin", "new", "Not A Name"], "a plugin id is"),
        (vec!["plugin", "install", "--tenant", "nobody", "x.tar.gz"], "no tenant nobody"),
        (vec!["plugin", "package", "/nonexistent"], "/nonexistent"),
    ] {
        let err = run(&args);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("stack backtrace") && !err.contains("Stack backtrace"), "{err}");
    }
}
