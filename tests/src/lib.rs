//! Helpers shared by the end-to-end tests: where the compiled guests and the `tandem` binary are, a
//! host with a shared compiled-code cache, and components of arbitrary WIT worlds for bad-input tests.
//!
//! The guests are built once per test run by `just agents` (which `just test` runs first); a missing
//! component fails with a message that says so rather than being skipped.

use std::path::{Path, PathBuf};

pub mod loopback;
pub mod nats;

use tandem::{Host, HostConfig};

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The shipped agent `id`'s component, `target/agents/<id>.wasm`.
pub fn agent(id: &str) -> PathBuf {
    let path = target_dir().join("agents").join(format!("{id}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests with `just agents` (or run `just test`)",
        path.display()
    );
    path
}

/// Puts the shipped `echo` into `dir` with a manifest that meters it by fuel, for tests that count
/// fuel: an agent whose manifest sets no fuel limit runs unmetered and reports none.
pub fn metered_echo(dir: &Path) {
    std::fs::copy(agent("echo"), dir.join("echo.wasm")).unwrap();
    std::fs::write(
        dir.join("echo.toml"),
        "[agent]\nid = \"echo\"\n\n[limits]\nfuel = 500_000_000\n",
    )
    .unwrap();
}

/// A test-only agent's component, `target/test-agents/<id>.wasm`.
pub fn test_agent(id: &str) -> PathBuf {
    let path = target_dir().join("test-agents").join(format!("{id}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests with `just agents` (or run `just test`)",
        path.display()
    );
    path
}

/// The `tandem` binary built by `just agents`.
pub fn tandem_bin() -> PathBuf {
    let path = target_dir().join("debug").join("tandem");
    assert!(
        path.is_file(),
        "{} is missing: run `just test`, which builds it",
        path.display()
    );
    path
}

/// `tandem run <agent> --op <op> <args...> --input <input> --raw` with the shipped agents
/// (`target/agents`, their manifests beside them), the shared code cache, and logs at `info`.
pub fn run_agent(
    agent: &str,
    op: &str,
    args: &[String],
    input: serde_json::Value,
) -> std::process::Output {
    let mut all: Vec<String> = vec!["run".into(), agent.into(), "--op".into(), op.into()];
    all.extend(args.iter().cloned());
    all.extend(["--input".into(), input.to_string(), "--raw".into()]);
    std::process::Command::new(tandem_bin())
        .args(&all)
        .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
        .env("TANDEM_AGENTS", target_dir().join("agents"))
        .env("TANDEM_LOG", "info")
        .output()
        .expect("tandem runs")
}

/// `tandem run <agent> --op <op> --raw <args...> --input @FILE` on an agent in `agents` (its
/// manifest beside it), with the shared code cache; the input goes in a file, as it may be larger
/// than a command line.
pub fn run_built(
    agents: &Path,
    agent: &str,
    op: &str,
    args: &[&str],
    input: &serde_json::Value,
) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), input.to_string()).unwrap();
    std::process::Command::new(tandem_bin())
        .arg("--cache-dir")
        .arg(target_dir().join("test-cache"))
        .args(["run", agent, "--agents"])
        .arg(agents)
        .args(["--op", op, "--raw"])
        .args(args)
        .arg("--input")
        .arg(format!("@{}", file.path().display()))
        .output()
        .expect("tandem runs")
}

/// Builds each agent directory of `agents` (relative to the repository, its id its name) with
/// `tandem build` into `out` (the environment naming its tools), then compiles every component
/// once into the shared code cache, before tests run them in parallel (each would compile an
/// interpreter of many MiB otherwise).
pub fn build_agents(out: &Path, agents: &[(&str, Vec<(&str, PathBuf)>)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (dir, env) in agents {
        let build = std::process::Command::new(tandem_bin())
            .arg("build")
            .arg(root.join(dir))
            .arg("--agents")
            .arg(out)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "tandem build {dir} failed: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let id = Path::new(dir).file_name().unwrap().to_str().unwrap();
        let said = String::from_utf8_lossy(&build.stdout);
        assert!(said.contains(&format!("{id}.wasm")), "{said}");
        let manifest = format!("{id}.toml");
        if root.join(dir).join(&manifest).is_file() {
            assert!(out.join(&manifest).is_file(), "{id}'s manifest is copied");
        }
    }
    let listed = std::process::Command::new(tandem_bin())
        .arg("--cache-dir")
        .arg(target_dir().join("test-cache"))
        .arg("list")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

/// An agent scaffolded by `tandem new agent <name> --lang <lang>` in a temporary directory.
pub struct Scaffold {
    /// The temporary directory, removed when dropped.
    pub dir: tempfile::TempDir,
    /// The agent's project, `dir/<name>`.
    pub project: PathBuf,
    /// Where `tandem build` put its component.
    pub built: PathBuf,
}

/// Scaffolds `name` in `lang` (CONSTRUCTOR saying it wrote `files`), builds it with `tandem build`
/// (`env` naming its tools) and checks that its `greet` operation greets Ada.
pub fn scaffold_build_and_greet(
    lang: &str,
    name: &str,
    files: &str,
    env: &[(&str, PathBuf)],
) -> Scaffold {
    let dir = tempfile::tempdir().unwrap();
    let tandem = |args: &[&str]| {
        let out = std::process::Command::new(tandem_bin())
            .arg("--cache-dir")
            .arg(target_dir().join("test-cache"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tandem {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let root = dir.path().to_str().unwrap();
    let shipped = target_dir().join("agents");
    let said = tandem(&[
        "new",
        "agent",
        name,
        "--lang",
        lang,
        "--into",
        root,
        "--agents",
        shipped.to_str().unwrap(),
    ]);
    assert!(said.contains(files), "{said}");
    let project = dir.path().join(name);
    let built = dir.path().join("out");
    tandem(&[
        "build",
        project.to_str().unwrap(),
        "--agents",
        built.to_str().unwrap(),
    ]);
    let answer = tandem(&[
        "run",
        name,
        "--agents",
        built.to_str().unwrap(),
        "--op",
        "greet",
        "--raw",
        "--input",
        r#"{"name": "Ada"}"#,
    ]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answer).unwrap(),
        serde_json::json!({"greeting": "Hello, Ada!"})
    );
    Scaffold {
        dir,
        project,
        built,
    }
}

/// Held while a test installs tools into the target dir, so that two tests of one binary (which
/// run in parallel) never install into the same place at once.
fn installing() -> std::sync::MutexGuard<'static, ()> {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that panicked while installing left nothing another cannot redo.
    INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The Python of a virtual environment `target/<name>` with `packages` from PyPI (made once, kept
/// while `import` still works): the reference implementations agents are checked against.
pub fn python_venv(name: &str, packages: &[&str], import: &str) -> PathBuf {
    // Tests of one binary run in parallel: one makes the venv, the others wait for it.
    let _installing = installing();
    let venv = target_dir().join(name);
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        std::process::Command::new(python)
            .args(["-c", &format!("import {import}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        let made = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let installed = std::process::Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(packages)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install {packages:?} failed");
    }
    python
}

/// Runs the Python `script` with `input` as JSON on its stdin, and returns the JSON it prints; a
/// failed script panics with its stderr.
pub fn python_json(python: &Path, script: &str, input: &serde_json::Value) -> serde_json::Value {
    let mut command = std::process::Command::new(python);
    command.args(["-c", script]);
    script_json(command, input)
}

/// Runs the JavaScript module `script` with Node.js in `dir` (whose `node_modules` it imports
/// from), `input` as JSON on its stdin, and returns the JSON it prints; a failed script panics
/// with its stderr.
pub fn node_json(dir: &Path, script: &str, input: &serde_json::Value) -> serde_json::Value {
    let mut command = std::process::Command::new("node");
    command
        .args(["--input-type=module", "-e", script])
        .current_dir(dir);
    script_json(command, input)
}

/// Runs `command` with `input` as JSON on its stdin (read whole before it prints), and returns
/// the JSON it prints.
fn script_json(mut command: std::process::Command, input: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the script's interpreter runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// A directory under the target dir with the npm `packages` installed (from the npm registry, by
/// the machine's npm), installed the first time a test asks; returns it.
pub fn npm_packages(name: &str, packages: &[&str]) -> PathBuf {
    let _installing = installing();
    let dir = target_dir().join(name);
    let marker = dir.join("installed");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        std::fs::create_dir_all(&dir).unwrap();
        // A package.json of its own, so that npm does not look for one in the directories above.
        std::fs::write(dir.join("package.json"), r#"{"private": true}"#).unwrap();
        npm(&dir, &["install", "--no-audit", "--no-fund"], packages);
        std::fs::write(&marker, wanted).unwrap();
    }
    dir
}

/// Runs `npm <args> <packages>` in `dir`; a failure panics with npm's output.
pub fn npm(dir: &Path, args: &[&str], packages: &[&str]) {
    let out = std::process::Command::new("npm")
        .args(args)
        .args(packages)
        .current_dir(dir)
        .output()
        .expect("npm runs");
    assert!(
        out.status.success(),
        "npm {args:?} {packages:?} in {} failed: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JSON a successful run printed; a failed run panics with its stderr.
pub fn output_json(output: std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the output is JSON")
}

/// A host whose compiled-code cache is shared by all tests of a run.
pub fn host() -> Host {
    Host::new(HostConfig {
        cache_dir: Some(target_dir().join("test-cache")),
        ..HostConfig::default()
    })
    .expect("host starts")
}

/// A host with its own, empty cache directory.
pub fn host_with_cache(dir: &Path) -> Host {
    Host::new(HostConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..HostConfig::default()
    })
    .expect("host starts")
}

/// A real component of the WIT world `world` in `wit` (with `wit/` of the repository resolvable as a
/// dependency), made by wit-component from a module whose function bodies trap. Good for testing
/// what the host checks before it runs anything.
pub fn component_of_world(wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit"))
        .expect("wit/ parses");
    let package = resolve.push_str("test.wit", wit).expect("test WIT parses");
    encode_world(&resolve, package, world)
}

/// A component of the world `agent` built against the contract as published at `version` (this
/// repository's `wit/agent.wit` with its package version replaced), with trapping function bodies:
/// for checking that components built against an older 0.1.x still link.
pub fn component_of_contract_version(version: &str) -> Vec<u8> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/agent.wit"))
            .expect("wit/agent.wit reads");
    let current = format!(
        "package tandem:agent@{};",
        tandem::bindings::PACKAGE_VERSION
    );
    assert!(text.contains(&current), "wit/agent.wit declares {current}");
    let text = text.replace(&current, &format!("package tandem:agent@{version};"));
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("agent.wit", &text)
        .expect("the contract parses");
    encode_world(&resolve, package, "agent")
}

fn encode_world(
    resolve: &wit_parser::Resolve,
    package: wit_parser::PackageId,
    world: &str,
) -> Vec<u8> {
    let world = resolve
        .select_world(&[package], Some(world))
        .expect("world exists");
    let mut module =
        wit_component::dummy_module(resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .expect("metadata embeds");
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.module(&module).expect("module is accepted");
    encoder.encode().expect("component encodes")
}

/// A `tandem serve` process on a free loopback port, killed when dropped.
pub struct TestServer {
    child: std::process::Child,
    /// The server's own data directory, unless the test passed `--data-dir`.
    _data: Option<tempfile::TempDir>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    http: ureq::Agent,
}

/// An HTTP answer: status and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl TestServer {
    /// Starts `tandem serve --agents <agents> <args>` with `env` added, and waits until `/readyz`
    /// answers 200. Without `--data-dir` in `args`, the server gets a data directory of its own.
    pub fn start(agents: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        use std::io::{BufRead, Read};
        let data = (!args.contains(&"--data-dir")).then(|| tempfile::tempdir().unwrap());
        let mut command = std::process::Command::new(tandem_bin());
        if let Some(data) = &data {
            command.arg("--data-dir").arg(data.path());
        }
        let mut child = command
            .arg("serve")
            .arg("--agents")
            .arg(agents)
            .args(["--addr", "127.0.0.1:0", "--cache-dir"])
            .arg(target_dir().join("test-cache"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tandem serve starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {first:?}; stderr: {}",
                    stderr.lock().unwrap()
                )
            })
            .to_string();
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .new_agent();
        let server = TestServer {
            child,
            _data: data,
            url,
            stderr,
            http,
        };
        let started = std::time::Instant::now();
        while server.get("/readyz").status != 200 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "the server never got ready: {}",
                server.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        server
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut response = response.expect("the server answers");
        Reply {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: response
                .body_mut()
                .with_config()
                .limit(1 << 28)
                .read_to_string()
                .unwrap_or_default(),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        Self::reply(self.http.get(format!("{}{path}", self.url)).call())
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        Self::reply(
            self.http
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .send(body),
        )
    }

    /// A request with any method and headers.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::reply(self.http.run(request.body(body.to_vec()).unwrap()))
    }

    /// `POST /v1/agents/<agent>/invoke` with `{"op": op, "input": input}`.
    pub fn invoke(&self, agent: &str, op: &str, input: serde_json::Value) -> Reply {
        let body = serde_json::json!({"op": op, "input": input}).to_string();
        self.post(&format!("/v1/agents/{agent}/invoke"), &body)
    }

    /// Sends SIGTERM and waits (at most a minute) for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal_term();
        self.wait(std::time::Duration::from_secs(60))
    }

    /// Kills the process with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn signal_term(&self) {
        // SAFETY: kill(2) on our own child's pid.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM sent");
    }

    /// Waits for the process to exit, failing the test after `limit`.
    pub fn wait(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the server did not exit within {limit:?}: {}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Subscribes to `GET /events`; the events arrive, parsed, on the returned channel.
    pub fn events(&self) -> std::sync::mpsc::Receiver<serde_json::Value> {
        use std::io::BufRead;
        let response = ureq::get(format!("{}/events", self.url))
            .call()
            .expect("the event stream opens");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let reader = std::io::BufReader::new(response.into_body().into_reader());
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if let Some(data) = line.strip_prefix("data: ") {
                    let event = serde_json::from_str(data).expect("event data is JSON");
                    if sender.send(event).is_err() {
                        break;
                    }
                }
            }
        });
        receiver
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
