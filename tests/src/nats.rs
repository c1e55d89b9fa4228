//! A `nats-server` of the tests' own on a free loopback port (Debian's package, installed when
//! missing), stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`.
pub struct NatsServer {
    child: Child,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    _store: tempfile::TempDir,
}

/// `nats-server` on the PATH, installed from Debian when missing.
fn nats_server() -> PathBuf {
    let _installing = super::installing();
    let found = |dir: &str| {
        let path = PathBuf::from(dir).join("nats-server");
        path.is_file().then_some(path)
    };
    let search = || {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .find_map(found)
    };
    if let Some(path) = search() {
        return path;
    }
    // As root (CI) apt-get runs as is; otherwise through sudo.
    let root = unsafe { libc::geteuid() } == 0;
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        let status = command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .expect("apt-get runs");
        assert!(status.success(), "apt-get {args:?} failed");
    };
    apt(&["update", "-qq"]);
    apt(&["install", "-y", "-qq", "nats-server"]);
    search().expect("nats-server is on the PATH once installed")
}

impl NatsServer {
    /// Starts a server with JetStream (its store in a temporary directory) and waits until it
    /// accepts connections.
    pub fn start() -> NatsServer {
        let binary = nats_server();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "nats-server did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _store: store,
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
