//! `just bench` (egress part): the cost of one outbound HTTP request made by an agent through the
//! host (`[egress]` rules judged, the name resolved and its address checked, a secret filled in, the
//! response capped) against the same request made by native Rust, both to a server on loopback.
//!
//! Both sides open a new connection per request, as the host does (it keeps no connection pool), and
//! read the whole response. The agent is the test guest `fetcher`; each of its requests is one call
//! (`Host::invoke`), so the host side also pays for a warm call. `cargo bench --bench egress` makes
//! 2 000 requests each way; under `cargo test` it makes 20 as a smoke test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use tandem::manifest::Manifest;
use tandem::{Host, HostConfig};

/// Answers every request on its own connection with a 2-byte body, then closes it.
fn serve(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = answer(stream);
        });
    }
}

fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
}

/// The same request from native Rust: a new connection, the request, the whole response.
fn native(port: u16) -> Duration {
    let started = Instant::now();
    // By name, as the agent asks: both sides resolve `localhost`.
    let mut stream = TcpStream::connect(("localhost", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET /hello HTTP/1.1\r\nhost: localhost:{port}\r\nauthorization: Bearer s3cr3t\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(response.ends_with(b"ok"));
    started.elapsed()
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "{name:<34} p50 {:>8.1} us   p99 {:>8.1} us",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    p50
}

fn main() {
    let requests = if std::env::args().any(|arg| arg == "--bench") {
        2000
    } else {
        20
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fetcher = root.join("target/test-agents/fetcher.wasm");
    assert!(
        fetcher.is_file(),
        "{} is missing: run `just agents` first",
        fetcher.display()
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || serve(listener));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let cache = tempfile::tempdir().unwrap();
        let host = Host::new(HostConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            ..HostConfig::default()
        })
        .unwrap();
        let manifest = format!(
            "[[egress.allow]]\nname = \"local\"\nscheme = \"http\"\nhost = \"localhost\"\nport = {port}\nprivate = true\n\n[secrets.token]\nfrom-env = \"TOKEN\"\nrules = [\"local\"]\n"
        );
        let path = Path::new("fetcher.toml");
        let env = |name: &str| (name == "TOKEN").then(|| "s3cr3t".to_string());
        let policy = Manifest::parse(path, &manifest)
            .and_then(|m| m.policy(path, Path::new("/"), host.engine_limits(), env))
            .unwrap();
        host.load(&fetcher, policy).await.unwrap();
        let input = serde_json::json!({
            "url": format!("http://localhost:{port}/hello"),
            "headers": [["authorization", "Bearer {{secret:token}}"]],
        })
        .to_string();

        let through_host = async |n: usize| {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let started = Instant::now();
                let response = host.invoke("fetcher", "fetch", input.clone()).await.unwrap();
                times.push(started.elapsed());
                assert!(response.output.contains("\"status\":200"), "{}", response.output);
            }
            times
        };
        // Warm up both sides (the instance, the resolver, the loopback path).
        through_host(requests / 10 + 1).await;
        (0..requests / 10 + 1).for_each(|_| {
            native(port);
        });
        let native_times = tokio::task::spawn_blocking(move || (0..requests).map(|_| native(port)).collect())
            .await
            .unwrap();
        let host_times = through_host(requests).await;
        println!("egress: {requests} GETs to a loopback server, a new connection each");
        let native_p50 = report("native Rust (std TcpStream)", native_times);
        let host_p50 = report("agent through the host (fetcher)", host_times);
        println!(
            "host / native p50: {:.2}x ({:+.1} us per request)",
            host_p50.as_secs_f64() / native_p50.as_secs_f64(),
            (host_p50.as_secs_f64() - native_p50.as_secs_f64()) * 1e6
        );
    });
}
