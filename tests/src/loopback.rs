//! A plain HTTP/1.1 server on loopback that records what reaches it, for the tests of agents'
//! outbound requests (`[egress]`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request a server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request target (path and query).
    pub target: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (as long as its `content-length`).
    pub body: Vec<u8>,
}

impl Received {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 server on 127.0.0.1 that records every request and answers by path:
/// `/hello`, `/redirect?to=URL` (302), `/loop` (302 to itself), `/big` (1 MiB with a length), `/big-chunked` (1 MiB,
/// chunked), `/slow` (answers after 10 s), anything else 404.
pub struct Server {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    /// Starts a server whose `/hello` answers `hello from <name>`.
    pub fn start(name: &'static str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = serve(name, stream, &log);
                });
            }
        });
        Server { port, received }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve(name: &str, mut stream: TcpStream, log: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let target = parts.nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    log.lock().unwrap().push(Received {
        target: target.clone(),
        headers,
        body,
    });
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let reply = |status: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    match path {
        "/hello" => stream.write_all(reply("200 OK", "", &format!("hello from {name}")).as_bytes()),
        "/loop" => stream.write_all(reply("302 Found", "location: /loop\r\n", "").as_bytes()),
        "/redirect" => {
            let to = query.strip_prefix("to=").unwrap_or("/");
            stream.write_all(reply("302 Found", &format!("location: {to}\r\n"), "").as_bytes())
        }
        "/big" => stream.write_all(reply("200 OK", "", &"x".repeat(1 << 20)).as_bytes()),
        "/big-chunked" => {
            stream.write_all(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            )?;
            let chunk = "y".repeat(16 * 1024);
            for _ in 0..64 {
                stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())?;
            }
            stream.write_all(b"0\r\n\r\n")
        }
        "/slow" => {
            std::thread::sleep(Duration::from_secs(10));
            stream.write_all(reply("200 OK", "", "late").as_bytes())
        }
        _ => stream.write_all(reply("404 Not Found", "", "no such page").as_bytes()),
    }
}

/// A directory holding `component` as `<agent>.wasm` and, beside it, a manifest with limits an
/// interpreted guest needs, `egress` (settings of the `[egress]` section, or nothing), one rule `api`
/// allowing plain HTTP to `localhost:port`, then `more` (further sections).
pub fn agent_dir(
    component: &std::path::Path,
    agent: &str,
    port: u16,
    egress: &str,
    more: &str,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(component, dir.path().join(format!("{agent}.wasm"))).unwrap();
    let manifest = format!(
        "[limits]\ntimeout = \"10s\"\nfuel = 1_000_000_000_000\nmemory = \"256MiB\"\n\n\
         [egress]\n{egress}\n\
         [[egress.allow]]\nname = \"api\"\nscheme = \"http\"\nhost = \"localhost\"\nport = {port}\nprivate = true\n\n\
         {more}"
    );
    std::fs::write(dir.path().join(format!("{agent}.toml")), manifest).unwrap();
    dir
}

/// Runs `agent`'s `fetch` operation (input `{"url": ...}`; it sends `Authorization: Bearer
/// {{secret:token}}` and returns `{"status", "body"}`) from `component` with `tandem run`, under a
/// manifest that allows one loopback server and binds the secret `token` to it, and checks what
/// the host let through: the request with the secret filled in, the output without it, and a
/// request to another port refused with the rule named. For the helpers of Python and JavaScript
/// agents, whose `fetch` is the language's own.
pub fn assert_fetch_through_the_host(component: &std::path::Path, agent: &str) {
    const SECRET: &str = "guest-s3cr3t-Kp4w";
    let api = Server::start("api");
    let dir = agent_dir(
        component,
        agent,
        api.port,
        "",
        "[secrets.token]\nfrom-env = \"PROBE_TOKEN\"\nrules = [\"api\"]\n",
    );
    let fetch = |url: String| {
        std::process::Command::new(crate::tandem_bin())
            .env("PROBE_TOKEN", SECRET)
            // Every log record of the host and its HTTP stack goes to stderr, checked for the
            // secret below (the compiler's own traces left out: millions of lines).
            .env(
                "TANDEM_LOG",
                "trace,cranelift_codegen=off,cranelift_frontend=off,regalloc2=off,wasmtime=info,wasmtime_internal_cranelift=off",
            )
            .arg("--cache-dir")
            .arg(crate::target_dir().join("test-cache"))
            .args(["run", agent, "--agents"])
            .arg(dir.path())
            .args(["--op", "fetch", "--raw", "--input"])
            .arg(serde_json::json!({ "url": url }).to_string())
            .output()
            .unwrap()
    };
    let output = fetch(format!("http://localhost:{}/hello", api.port));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains(SECRET), "the host's log holds the secret");
    assert_eq!(
        crate::output_json(output),
        serde_json::json!({"status": 200, "body": "hello from api"})
    );
    let seen = api.received().pop().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert!(!stdout.contains(SECRET));
    // A request no rule allows fails, and the call's error names the rule that came closest.
    let refused = fetch(format!("http://localhost:{}/hello", api.port + 1));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("egress denied") && stderr.contains("rule `api`"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET));
    assert_eq!(
        api.received().len(),
        1,
        "the refused request never left the host"
    );
}
