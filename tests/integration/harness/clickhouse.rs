//! A real ClickHouse on 127.0.0.1 with free ports and its own data directory, for the
//! fleet-store tests, of either kind ([`Server`]): Debian's clickhouse-server 18.16 (installed
//! by `.ci/run`), or a current one, 26.9, from PyPI's chdb-core (installed by `.ci/run` into
//! `target/ch-venv`; `tests/clickhouse/chdb_server.py` serves its HTTP interface). Users:
//! `default` (no password) and `USER` with `PASSWORD`. Without the server, `ClickHouse::start`
//! prints a SKIPPED banner and returns None (and panics when `CI` is set). The server is
//! SIGKILLed on drop. Each start prints how long the server took to answer.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::client;

pub const SERVER: &str = "/usr/sbin/clickhouse-server";
/// The chdb launcher, relative to the crate.
pub const CHDB_SERVER: &str = "tests/clickhouse/chdb_server.py";

/// Which ClickHouse a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// Debian 12's clickhouse-server 18.16.
    Debian,
    /// chdb-core 26.9's embedded clickhouse-local serving HTTP.
    Chdb,
}

impl Server {
    pub fn name(self) -> &'static str {
        match self {
            Server::Debian => "clickhouse-server 18.16 (Debian)",
            Server::Chdb => "ClickHouse 26.9 (chdb-core)",
        }
    }

    /// The python with chdb-core: `VANTAGE_CHDB_PYTHON`, else `target/ch-venv/bin/python`.
    fn chdb_python() -> std::path::PathBuf {
        std::env::var_os("VANTAGE_CHDB_PYTHON")
            .map(Into::into)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ch-venv/bin/python")
            })
    }

    /// Why it cannot run here, if it cannot.
    fn missing(self) -> Option<String> {
        match self {
            Server::Debian if !Path::new(SERVER).exists() => {
                Some(format!("{SERVER} is not installed"))
            }
            Server::Chdb if !Self::chdb_python().exists() => Some(format!(
                "{} (a python with chdb-core 26.9.0) is not there",
                Self::chdb_python().display()
            )),
            _ => None,
        }
    }
}
/// A user with a password, besides `default` (no password).
pub const USER: &str = "shipper";
pub const PASSWORD: &str = "pw-Zq81-never-printed";

/// A clickhouse-server on 127.0.0.1, killed (SIGKILL) on drop.
pub struct ClickHouse {
    pub server: Server,
    dir: tempfile::TempDir,
    http: u16,
    child: Option<std::process::Child>,
}

/// A free port on 127.0.0.1 (free again once the listener is dropped).
pub fn free_port() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

impl ClickHouse {
    /// Starts a server, or returns None (after a loud banner) when it is not installed here.
    pub async fn start(server: Server, test: &str) -> Option<ClickHouse> {
        if let Some(why) = server.missing() {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI is set, so the ClickHouse test {test} on {} must run, but it cannot: {why}",
                    server.name()
                );
            }
            let bar = "!".repeat(78);
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\n!! SKIPPED: the ClickHouse test {test} on {}: {why}.\n\
                 !! Run `bash .ci/run` as root to install it.\n{bar}\n",
                server.name()
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut ch = ClickHouse {
            server,
            dir,
            http: 0,
            child: None,
        };
        // The ports are free when picked, but another test can take one before the server
        // binds it: then it exits with EADDRINUSE and is started again on new ports.
        for attempt in 1.. {
            ch.http = ch.configure();
            match ch.try_spawn().await {
                Ok(()) => break,
                Err(logs) if attempt < 5 && logs.contains("Address already in use") => continue,
                Err(logs) => panic!("{} exited:\n{logs}", server.name()),
            }
        }
        Some(ch)
    }

    /// Picks free ports and, for Debian's server, writes its config for them into the data
    /// directory (the chdb launcher takes the HTTP port as an argument); returns the HTTP port.
    fn configure(&self) -> u16 {
        if self.server == Server::Chdb {
            return free_port().local_addr().unwrap().port();
        }
        let (a, b, c) = (free_port(), free_port(), free_port());
        let ports = [a, b, c].map(|l| l.local_addr().unwrap().port());
        let dir = self.dir.path();
        let d = dir.display().to_string();
        std::fs::write(
            dir.join("config.xml"),
            format!(
                "<yandex>\n\
                 <logger><level>warning</level><log>{d}/log/server.log</log>\
                 <errorlog>{d}/log/err.log</errorlog><size>10M</size><count>1</count></logger>\n\
                 <http_port>{}</http_port><tcp_port>{}</tcp_port>\
                 <interserver_http_port>{}</interserver_http_port>\n\
                 <listen_host>127.0.0.1</listen_host>\n\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path>\
                 <user_files_path>{d}/user_files/</user_files_path>\
                 <format_schema_path>{d}/format_schemas/</format_schema_path>\n\
                 <users_config>users.xml</users_config><default_profile>default</default_profile>\
                 <default_database>default</default_database>\
                 <mark_cache_size>67108864</mark_cache_size>\
                 <max_concurrent_queries>50</max_concurrent_queries>\n</yandex>\n",
                ports[0], ports[1], ports[2]
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("users.xml"),
            format!(
                "<yandex><profiles><default></default></profiles><users>\
                 <default><password></password><networks><ip>127.0.0.1</ip></networks>\
                 <profile>default</profile><quota>default</quota></default>\
                 <{USER}><password>{PASSWORD}</password><networks><ip>127.0.0.1</ip></networks>\
                 <profile>default</profile><quota>default</quota></{USER}>\
                 </users><quotas><default></default></quotas></yandex>\n"
            ),
        )
        .unwrap();
        ports[0]
    }

    /// Starts the server on this data directory and waits until it answers.
    pub async fn spawn(&mut self) {
        if let Err(logs) = self.try_spawn().await {
            panic!("{} exited:\n{logs}", self.server.name());
        }
    }

    /// Starts the server and waits until it answers; `Err` with its logs if it exits first.
    async fn try_spawn(&mut self) -> Result<(), String> {
        let out = std::fs::File::create(self.dir.path().join("console.log")).unwrap();
        let mut cmd = match self.server {
            Server::Debian => {
                let mut c = std::process::Command::new(SERVER);
                c.arg(format!(
                    "--config-file={}",
                    self.dir.path().join("config.xml").display()
                ))
                .stdin(Stdio::null());
                c
            }
            Server::Chdb => {
                let mut c = std::process::Command::new(Server::chdb_python());
                c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(CHDB_SERVER))
                    .arg(self.dir.path())
                    .arg(self.http.to_string())
                    .args([USER, PASSWORD])
                    // Held open: the launcher stops when it ends (this process gone).
                    .stdin(Stdio::piped());
                c
            }
        };
        let started = Instant::now();
        let child = cmd
            .current_dir(self.dir.path())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the ClickHouse server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = self.try_query("SELECT version()").await {
                let _ = writeln!(
                    std::io::stderr(),
                    "{} ({}) answered {:.2} s after its start",
                    self.server.name(),
                    v.trim(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("({status})\n{}", self.logs()));
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready in 30 s:\n{}",
                self.server.name(),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn logs(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.dir.path().join(p)).unwrap_or_default();
        format!("{}\n{}", read("console.log"), read("log/err.log"))
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http)
    }

    pub async fn try_query(&self, q: &str) -> Result<String, String> {
        let resp = client()
            .post(self.url())
            .timeout(Duration::from_secs(10))
            .body(q.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("{status}: {text}"))
        }
    }

    pub async fn query(&self, q: &str) -> String {
        self.try_query(q)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .trim()
            .to_string()
    }

    pub async fn number(&self, q: &str) -> u64 {
        let v = self.query(q).await;
        v.parse()
            .unwrap_or_else(|_| panic!("{q}: not a number: {v}"))
    }

    /// `count()` and `uniqExact(measurement_uid)` of `vantage.measurements` after FINAL.
    pub async fn final_counts(&self) -> (u64, u64) {
        self.final_counts_in("vantage.measurements").await
    }

    /// `count()` and `uniqExact(measurement_uid)` of `table` (`db.name`) after FINAL.
    pub async fn final_counts_in(&self, table: &str) -> (u64, u64) {
        let v = self
            .query(&format!(
                "SELECT count(), uniqExact(measurement_uid) FROM {table} FINAL"
            ))
            .await;
        let mut it = v.split('\t').map(|x| x.parse::<u64>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

pub const NGINX: &str = "/usr/sbin/nginx";

/// An nginx reverse proxy in front of a `ClickHouse`, with nginx's default request body limit
/// (`client_max_body_size 1m`): what a TLS front of a fleet store usually is. Killed on drop.
pub struct Front {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl Front {
    /// Starts nginx on a free 127.0.0.1 port proxying to `ch`, or returns None (after a loud
    /// banner, or a panic when `CI` is set) when nginx is not installed.
    pub async fn start(test: &str, ch: &ClickHouse) -> Option<Front> {
        if !Path::new(NGINX).exists() {
            let why = format!("{NGINX} is not installed");
            if std::env::var_os("CI").is_some() {
                panic!("CI is set, so the test {test} must run, but it cannot: {why}");
            }
            let bar = "!".repeat(78);
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\n!! SKIPPED: {test}: {why}.\n!! Run `bash .ci/run` as root to \
                 install nginx-light.\n{bar}\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().local_addr().unwrap().port();
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "worker_processes 1;\nmaster_process off;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log {d}/access.log;\n\
                 client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;\n\
                 fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
                 server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{ proxy_pass http://127.0.0.1:{}; }}\n  }}\n}}\n",
                ch.http
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("console.log")).unwrap();
        let child = std::process::Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-e", &format!("{d}/error.log"), "-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nginx starts");
        let mut front = Front { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = client()
                .post(front.url())
                .timeout(Duration::from_secs(5))
                .body("SELECT 1")
                .send()
                .await;
            if let Ok(r) = answer {
                if r.status().is_success() {
                    return Some(front);
                }
            }
            if let Some(status) = front.child.try_wait().unwrap() {
                panic!("nginx exited ({status}):\n{}", front.logs());
            }
            assert!(
                Instant::now() < deadline,
                "nginx not ready in 20 s:\n{}",
                front.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn logs(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.dir.path().join(p)).unwrap_or_default();
        format!("{}\n{}", read("console.log"), read("error.log"))
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
