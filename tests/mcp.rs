//! `tandem mcp`, driven by a real MCP client: the official Python SDK's (`mcp` 2.3.0 from PyPI,
//! installed by the test into `target/mcp-venv`), over stdio and over streamable HTTP. Each test
//! runs one client script that does the whole session and prints what it saw as JSON; the
//! assertions are on that report and on the audit log the server kept.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tandem_e2e::{agent, python_json, python_venv, tandem_bin, target_dir, test_agent};

/// The Python of a venv with the official MCP SDK.
fn client() -> PathBuf {
    python_venv("mcp-venv", &["mcp==2.3.0"], "mcp.client.session")
}

/// A directory with `echo`, `linter` (its manifest beside it) and `hostile` (a 500 ms timeout, and
/// fuel it cannot burn in that time).
fn agents() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(agent("echo"), dir.path().join("echo.wasm")).unwrap();
    std::fs::copy(agent("linter"), dir.path().join("linter.wasm")).unwrap();
    let manifest = agent("linter").with_extension("toml");
    std::fs::copy(manifest, dir.path().join("linter.toml")).unwrap();
    std::fs::copy(test_agent("hostile"), dir.path().join("hostile.wasm")).unwrap();
    std::fs::write(
        dir.path().join("hostile.toml"),
        "[agent]\nid = \"hostile\"\n\n[limits]\ntimeout = \"500ms\"\nfuel = 100_000_000_000_000\n",
    )
    .unwrap();
    dir
}

/// The calls both transports make, and how each is reported: `{tool: {error, text, structured}}`.
const SESSION: &str = r#"
import asyncio, json, os, shutil, sys
from mcp.client.session import ClientSession

config = json.load(sys.stdin)

async def session(read, write):
    changed = asyncio.Event()
    async def on_message(message):
        if type(message).__name__ == "ToolListChangedNotification":
            changed.set()
    async with ClientSession(read, write, message_handler=on_message) as s:
        init = await s.initialize()
        report = {
            "server": init.server_info.name,
            "protocol": init.protocol_version,
            "list_changed": init.capabilities.tools.list_changed,
        }
        listed = await s.list_tools()
        report["tools"] = {
            t.name: {"schema": t.input_schema, "read_only": t.annotations.read_only_hint}
            for t in listed.tools
        }
        calls = {}
        for name, arguments in config["calls"]:
            result = await s.call_tool(name, arguments)
            calls[name + json.dumps(arguments, sort_keys=True)] = {
                "error": result.is_error,
                "text": result.content[0].text if result.content else None,
                "structured": result.structured_content,
            }
        report["calls"] = calls
        try:
            await s.call_tool("nobody_nothing", {})
            report["unknown_tool"] = None
        except Exception as e:
            report["unknown_tool"] = str(e)
        if config.get("swap_in"):
            source, dest = config["swap_in"]
            shutil.copy(source, dest + ".part")
            os.rename(dest + ".part", dest)
            try:
                await asyncio.wait_for(changed.wait(), 60)
                report["notified"] = True
            except asyncio.TimeoutError:
                report["notified"] = False
            report["tools_after"] = sorted(t.name for t in (await s.list_tools()).tools)
        return report

async def main():
    if config["transport"] == "stdio":
        from mcp.client.stdio import stdio_client, StdioServerParameters
        params = StdioServerParameters(command=config["command"], args=config["args"])
        async with stdio_client(params) as (read, write):
            report = await session(read, write)
    else:
        from mcp.client.streamable_http import streamable_http_client
        async with streamable_http_client(config["url"]) as (read, write):
            report = await session(read, write)
    print(json.dumps(report))

asyncio.run(main())
"#;

/// The calls of [`SESSION`]: a success of each kind, bad input, a denied read, a guest stopped
/// at its deadline.
fn calls() -> Value {
    json!([
        ["echo_echo", {"message": "hi"}],
        ["linter_lint", {"text": "import os\n", "name": "a.py"}],
        ["linter_lint", {"bogus": true}],
        ["hostile_read", {"path": "/etc/passwd"}],
        ["hostile_spin", {}],
    ])
}

fn call<'a>(report: &'a Value, tool: &str, arguments: Value) -> &'a Value {
    let key = format!("{tool}{}", python_dumps(&arguments));
    &report["calls"][&key]
}

/// `json.dumps(value, sort_keys=True)`: `", "` and `": "` separators.
fn python_dumps(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}: {}",
                        Value::String((*k).clone()),
                        python_dumps(&map[*k])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

/// What both transports must have answered.
fn check_session(report: &Value) {
    assert_eq!(report["server"], "tandem", "{report:#}");
    assert_eq!(report["list_changed"], true);
    let tools = report["tools"].as_object().unwrap();
    for name in [
        "echo_echo",
        "linter_lint",
        "linter_fix",
        "linter_rules",
        "hostile_spin",
    ] {
        assert!(tools.contains_key(name), "{name} missing: {report:#}");
    }
    // LINTER declares its inputs' schemas from its Rust types; echo's is read off its example.
    let lint = &tools["linter_lint"]["schema"];
    assert_eq!(lint["type"], "object");
    assert_eq!(lint["additionalProperties"], false, "{lint:#}");
    for field in ["text", "name", "files", "paths", "config", "format"] {
        assert!(lint["properties"].get(field).is_some(), "{field}: {lint:#}");
    }
    let echo = &tools["echo_echo"]["schema"];
    assert_eq!(echo["properties"]["message"]["type"], "string", "{echo:#}");
    assert_eq!(echo["examples"], json!([{"message": "hello"}]));
    assert_eq!(tools["echo_echo"]["read_only"], true);
    assert_eq!(tools["linter_lint"]["read_only"], false);

    let echoed = call(report, "echo_echo", json!({"message": "hi"}));
    assert_eq!(echoed["error"], false, "{report:#}");
    assert_eq!(echoed["structured"], json!({"message": "hi"}));
    let linted = call(
        report,
        "linter_lint",
        json!({"text": "import os\n", "name": "a.py"}),
    );
    assert_eq!(linted["error"], false, "{report:#}");
    assert_eq!(linted["structured"]["findings"][0]["rule"], "F401");
    // Failures are tool results that say their class first.
    let bad = call(report, "linter_lint", json!({"bogus": true}));
    assert_eq!(bad["error"], true);
    assert!(
        bad["text"].as_str().unwrap().starts_with("invalid-input: "),
        "{bad}"
    );
    let denied = call(report, "hostile_read", json!({"path": "/etc/passwd"}));
    assert_eq!(denied["error"], true);
    assert!(
        denied["text"].as_str().unwrap().starts_with("denied: "),
        "{denied}"
    );
    let spun = call(report, "hostile_spin", json!({}));
    assert_eq!(spun["error"], true);
    assert!(
        spun["text"].as_str().unwrap().starts_with("timeout: "),
        "{spun}"
    );
    let unknown = report["unknown_tool"]
        .as_str()
        .expect("an unknown tool is an error");
    assert!(unknown.contains("nobody_nothing"), "{unknown}");
}

/// The audit log has one record per call, with its outcome.
fn audited(data: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["event"] == "call")
        .map(|record| {
            (
                format!(
                    "{}.{}",
                    record["agent"].as_str().unwrap_or("?"),
                    record["operation"].as_str().unwrap_or("?")
                ),
                record["outcome"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

fn mcp_args(agents: &Path, data: &Path) -> Vec<String> {
    [
        "--data-dir",
        data.to_str().unwrap(),
        "--cache-dir",
        target_dir().join("test-cache").to_str().unwrap(),
        "mcp",
        "--agents",
        agents.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn a_real_client_lists_and_calls_agents_over_stdio_and_hears_of_a_hot_swap() {
    let python = client();
    let agents = agents();
    let data = tempfile::tempdir().unwrap();
    let mut args = mcp_args(agents.path(), data.path());
    args.push("--watch".into());
    let report = python_json(
        &python,
        SESSION,
        &json!({
            "transport": "stdio",
            "command": tandem_bin(),
            "args": args,
            "calls": calls(),
            "swap_in": [test_agent("twin-v1"), agents.path().join("twin.wasm")],
        }),
    );
    check_session(&report);
    assert_eq!(report["notified"], true, "{report:#}");
    assert!(
        report["tools_after"]
            .as_array()
            .unwrap()
            .contains(&json!("twin_version")),
        "{report:#}"
    );
    let audit = audited(data.path());
    assert!(
        audit.contains(&("echo.echo".into(), "ok".into())),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("hostile.spin".into(), "timeout".into())),
        "{audit:?}"
    );
}

/// `tandem mcp --http`: the server and the URL it prints.
struct HttpServer {
    child: std::process::Child,
    url: String,
}

impl HttpServer {
    fn start(agents: &Path, data: &Path, extra: &[&str]) -> HttpServer {
        let mut child = Command::new(tandem_bin())
            .args(mcp_args(agents, data))
            .args(["--http", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let Some(url) = first.trim().strip_prefix("listening on ") else {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!("unexpected first line {first:?}: {stderr}");
        };
        HttpServer {
            url: url.to_string(),
            child,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw POST of an `initialize` to `url` with `host` as `Host`: (status, body).
fn raw_initialize(url: &str, host: &str) -> (u16, String) {
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}});
    let mut response = http
        .post(url)
        .header("Host", host)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn a_real_client_lists_and_calls_agents_over_streamable_http() {
    let python = client();
    let agents = agents();
    let data = tempfile::tempdir().unwrap();
    let server = HttpServer::start(agents.path(), data.path(), &["--max-sessions", "2"]);
    let report = python_json(
        &python,
        SESSION,
        &json!({"transport": "http", "url": server.url, "calls": calls()}),
    );
    check_session(&report);

    // A page on another site that resolves its name to 127.0.0.1 (DNS rebinding) is refused.
    let port = server
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let (status, _) = raw_initialize(&server.url, &format!("evil.example:{port}"));
    assert_eq!(status, 403);
    // Sessions are bounded: two open, the third initialize is refused, classified.
    let (first, _) = raw_initialize(&server.url, &format!("127.0.0.1:{port}"));
    let (second, _) = raw_initialize(&server.url, &format!("localhost:{port}"));
    assert_eq!((first, second), (200, 200));
    let (third, body) = raw_initialize(&server.url, &format!("127.0.0.1:{port}"));
    assert_eq!(third, 503, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["kind"], "overloaded");
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let agents = agents();
    let data = tempfile::tempdir().unwrap();
    let _first = HttpServer::start(agents.path(), data.path(), &[]);
    let second = Command::new(tandem_bin())
        .args(mcp_args(agents.path(), data.path()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("--data-dir"), "{stderr}");
}
