//! `fetcher`: a test-only agent for `[egress]` and `[secrets]`. It sends the request it is given
//! through the SDK's client and returns what came back; it can also scan its own linear memory for
//! a byte string (given XOR-ed with 0x5a, so that asking never puts it there), which is how the
//! tests show that a secret the host sent for it never entered the guest. It can also pass a fetch
//! on to another agent (`relay`), to show that a callee keeps its own rules.
//!
//! Its id is `fetcher`, or the value of the environment variable `AGENT_ID` when the host grants
//! one, so one component can be loaded as agents with different rules.

use serde::Deserialize;
use serde_json::json;
use tandem_sdk::http::Request;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

#[derive(Deserialize)]
struct Fetch {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
    redirects: Option<u32>,
    /// A byte string XOR 0x5a to look for in memory after the request.
    #[serde(default)]
    xored_needle: Vec<u8>,
}

#[derive(Deserialize)]
struct Relay {
    agent: String,
    input: serde_json::Value,
}

fn get() -> String {
    "GET".into()
}

struct Fetcher;

impl Agent for Fetcher {
    fn describe() -> AgentInfo {
        let id = std::env::var("AGENT_ID").unwrap_or_else(|_| "fetcher".to_string());
        AgentInfo::new(
            id,
            "Makes the outbound HTTP requests it is told to (test agent)",
        )
        .operation(Operation::new(
            "fetch",
            "sends `method` `url` with `headers` and `body`; returns status, headers, body, \
             and whether `xored_needle` (XOR 0x5a) is anywhere in its memory afterwards",
        ))
        .operation(Operation::new(
            "relay",
            "calls `fetch` on `agent` with `input`",
        ))
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "fetch" => task.run(|f: Fetch| {
                let mut request = Request::new(&f.method, &f.url).body(f.body.into_bytes());
                for (name, value) in &f.headers {
                    request = request.header(name, value);
                }
                if let Some(n) = f.redirects {
                    request = request.redirects(n);
                }
                let response = request.send()?;
                let in_memory = !f.xored_needle.is_empty() && memory_holds(&f.xored_needle);
                Ok(json!({
                    "status": response.status,
                    "headers": response.headers,
                    "body": String::from_utf8_lossy(&response.body),
                    "url": response.url,
                    "needle_in_memory": in_memory,
                }))
            }),
            "relay" => task.run(|r: Relay| {
                let output: serde_json::Value =
                    tandem_sdk::delegation::delegate(&r.agent, "fetch", &r.input)?;
                Ok(output)
            }),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

/// Whether the bytes `xored` XOR 0x5a appear anywhere in this module's linear memory. The needle
/// is never un-XORed into memory: each byte is compared as it is read.
#[cfg(target_arch = "wasm32")]
fn memory_holds(xored: &[u8]) -> bool {
    let size = core::arch::wasm32::memory_size(0) * 65536;
    let byte_at = |i: usize| unsafe { core::ptr::read_volatile(i as *const u8) };
    // Address 0 is null to Rust: start at 1 (nothing of interest lives at 0).
    (1..size.saturating_sub(xored.len())).any(|start| {
        xored
            .iter()
            .enumerate()
            .all(|(k, &x)| byte_at(start + k) == x ^ 0x5a)
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn memory_holds(_xored: &[u8]) -> bool {
    false
}

tandem_sdk::export_agent!(Fetcher);
