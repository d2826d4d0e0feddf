//! Real processes for the fault and replica tests: `portico serve` replicas that can be killed with SIGKILL and
//! restarted, and a private PostgreSQL server that can be stopped and started under load without disturbing the
//! shared one other tests use.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `portico` binary `cargo test` built beside the tests.
pub fn portico_bin() -> PathBuf {
    let bin = super::target_dir().join("debug/portico");
    assert!(bin.exists(), "{} is missing: build it with `cargo build -p portico`", bin.display());
    bin
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// One `portico serve` process: its own port, sharing the database and data dir (the blob store) it is given.
pub struct Replica {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub base: String,
    database_url: String,
    data_dir: PathBuf,
    log: PathBuf,
    /// Extra environment, e.g. an S3 blob store.
    pub env: Vec<(&'static str, String)>,
}

impl Replica {
    /// Starts a replica and waits until `/readyz` answers 200 (migrations applied, database reachable).
    pub async fn start(database_url: &str, data_dir: &Path, name: &str) -> Replica {
        Self::start_with(database_url, data_dir, name, Vec::new()).await
    }

    /// Like [`Replica::start`], with extra environment.
    pub async fn start_with(
        database_url: &str,
        data_dir: &Path,
        name: &str,
        env: Vec<(&'static str, String)>,
    ) -> Replica {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut r = Replica {
            child: None,
            addr,
            base: format!("http://{addr}"),
            database_url: database_url.to_string(),
            data_dir: data_dir.to_path_buf(),
            log: data_dir.join(format!("{name}.log")),
            env,
        };
        r.restart().await;
        r
    }

    /// Starts the process again on the same port, database and data dir (after [`Replica::kill`]).
    pub async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("replica log");
        let child = Command::new(portico_bin())
            .arg("serve")
            .env("PORTICO_CONFIG", self.data_dir.join("none.toml"))
            .env("PORTICO_ADDR", self.addr.to_string())
            .env("PORTICO_DATABASE_URL", &self.database_url)
            .env("PORTICO_DATA_DIR", &self.data_dir)
            .env("PORTICO_THEMES_DIR", super::themes_dir())
            // One artifact cache for every process the tests start: each compiles the renderer and plugins once.
            .env("PORTICO_CACHE_DIR", super::target_dir().join("test-artifact-cache"))
            .env("PORTICO_DEFAULT_TENANT", "acme")
            .env("PORTICO_BASE_DOMAIN", "portico.test")
            .env("PORTICO_LOG", "warn")
            // A delivery claimed by a killed replica is retried after 3 s instead of a minute.
            .env("PORTICO_EVENT_LEASE_SECS", "3")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start portico serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("replica exited with {status}:\n{}", self.log_text());
            }
            assert!(Instant::now() < deadline, "replica did not become ready:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown of any kind, as when the machine or the container dies.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What the process logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL server of its own (initdb in a temp dir, run as the `postgres` user, trust auth on loopback), for
/// tests that stop and restart the database.
pub struct PrivatePostgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl PrivatePostgres {
    /// The PostgreSQL binaries (Debian's layout), if installed.
    fn bin_dir() -> Option<PathBuf> {
        let mut versions: Vec<PathBuf> =
            std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        versions.sort();
        versions.pop().map(|v| v.join("bin")).filter(|b| b.join("pg_ctl").exists())
    }

    /// Runs a PostgreSQL tool as the `postgres` user when this process is root (PostgreSQL refuses root).
    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
        let tool = self.bin.join(tool);
        let mut cmd = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        };
        cmd.args(args).output().expect("run a PostgreSQL tool")
    }

    /// Creates and starts the server.
    pub fn start() -> PrivatePostgres {
        let bin = Self::bin_dir().expect("PostgreSQL server binaries under /usr/lib/postgresql");
        let dir = tempfile::Builder::new().prefix("portico-pg").tempdir().expect("temp dir");
        let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status();
        let pg = PrivatePostgres { port: free_port(), dir, bin };
        let data = pg.data();
        let out = pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        pg.start_again();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let out = self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"]);
        assert!(out.status.success(), "pg_ctl start failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops the server (fast shutdown: open sessions are ended, as in a real outage or a restart).
    pub fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A URL for database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }
}

/// A local S3-compatible server (moto, from PyPI: `pip install 'moto[server]'`) with one bucket, `portico`.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

impl S3Server {
    /// Starts one, or `None` when moto is not installed (then tests fall back to a shared directory, unless
    /// `PORTICO_REQUIRE_S3` is set).
    pub async fn start() -> Option<S3Server> {
        let port = free_port();
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                assert!(std::env::var_os("PORTICO_REQUIRE_S3").is_none(), "moto_server: {e}");
                return None;
            }
        };
        let s3 = S3Server { child, endpoint: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // CreateBucket: moto accepts it unsigned.
            if let Ok(r) = client.put(format!("{}/portico", s3.endpoint)).send().await
                && r.status().is_success()
            {
                return Some(s3);
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The settings (`blob_options`) an in-process app needs to keep its blobs in this server's bucket.
    pub fn options(&self) -> std::collections::BTreeMap<String, secrecy::SecretString> {
        [
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
            ("aws_region", "us-east-1"),
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_allow_http", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), secrecy::SecretString::from(v.to_string())))
        .collect()
    }

    /// The environment a `portico` process needs to keep its blobs in this server's bucket under `prefix`.
    pub fn env(&self, prefix: &str) -> Vec<(&'static str, String)> {
        vec![
            ("PORTICO_BLOB_URL", format!("s3://portico/{prefix}")),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
