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
/// `/hello`, `/redirect?to=URL` (302), `/big` (1 MiB with a length), `/big-chunked` (1 MiB,
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
