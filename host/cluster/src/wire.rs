//! What hosts say to each other over NATS: the subject a call is published on, the headers that
//! carry what it inherits, and the replies a host sends back. A call's body is its input and an
//! answer's body its output, as they are (no envelope to escape them into); everything else is a
//! header.
//!
//! A call on `tandem.invoke.<agent>` (queue group `tandem`) gets, on its reply subject:
//! `busy` (the host had no room: nothing ran, the caller places the call again) or `accepted`,
//! then `alive` every [`ALIVE_EVERY`] while it runs, then `output` or `error`.

use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use tandem::dispatch::Origin;
use tandem::{ErrorKind, Response};

/// The queue group every host joins on every agent's subject: one host of the group gets a call.
pub const QUEUE_GROUP: &str = "tandem";

/// How often a host that runs a call says it still does.
pub const ALIVE_EVERY: Duration = Duration::from_secs(1);

/// The subject every host answers with its census (what it serves, with its figures).
pub const CENSUS: &str = "tandem.census";

/// The subject calls of `agent` are published on (`agent` is a checked name: `[a-z0-9-]`).
pub fn invoke_subject(agent: &str) -> String {
    format!("tandem.invoke.{agent}")
}

const OPERATION: &str = "Tandem-Op";
const TRACE: &str = "Tandem-Trace";
const CHAIN: &str = "Tandem-Chain";
const DEADLINE_MS: &str = "Tandem-Deadline-Ms";
const MAX_ATTEMPTS: &str = "Tandem-Max-Attempts";
const NO_CACHE: &str = "Tandem-No-Cache";
const REPLY: &str = "Tandem-Reply";
const HOST: &str = "Tandem-Host";
const KIND: &str = "Tandem-Kind";
const FUEL: &str = "Tandem-Fuel";
const DURATION_US: &str = "Tandem-Duration-Us";
const CACHED: &str = "Tandem-Cached";

/// The headers of a call of `operation` with what it inherits. The deadline travels as the time
/// left, so hosts need not agree on the clock.
pub fn call_headers(operation: &str, origin: &Origin) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(OPERATION, operation);
    if let Some(trace) = &origin.trace_id {
        headers.insert(TRACE, trace.as_str());
    }
    if !origin.chain.is_empty() {
        headers.insert(CHAIN, origin.chain.join(","));
    }
    if let Some(max_attempts) = origin.max_attempts {
        headers.insert(MAX_ATTEMPTS, max_attempts.to_string());
    }
    if origin.no_cache {
        headers.insert(NO_CACHE, "1");
    }
    headers
}

/// Sets the time left before `deadline` on a call's headers (again before each placing).
pub fn set_time_left(headers: &mut HeaderMap, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    headers.insert(DEADLINE_MS, (left.as_millis() as u64).max(1).to_string());
}

/// A call as the host that took it reads it.
pub struct Call {
    /// The operation.
    pub operation: String,
    /// The input, JSON text as the caller sent it (checked by the dispatcher).
    pub input: String,
    /// What it inherits; `here` is set: the cluster handed it to this host.
    pub origin: Origin,
}

impl Call {
    /// Reads a call from a message; the error says what is wrong with it.
    pub fn read(message: &Message) -> Result<Call, String> {
        let headers = message.headers.as_ref();
        let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
        let operation = header(OPERATION).ok_or("the call names no operation (Tandem-Op)")?;
        let input = std::str::from_utf8(&message.payload)
            .map_err(|e| format!("the input is not UTF-8: {e}"))?;
        let number = |name: &str| -> Result<Option<u64>, String> {
            header(name)
                .map(|v| v.parse::<u64>().map_err(|e| format!("{name} `{v}`: {e}")))
                .transpose()
        };
        let deadline = number(DEADLINE_MS)?.map(|ms| Instant::now() + Duration::from_millis(ms));
        let max_attempts = number(MAX_ATTEMPTS)?
            .map(|n| u32::try_from(n).map_err(|_| format!("{MAX_ATTEMPTS} {n} is out of range")))
            .transpose()?;
        let chain = header(CHAIN)
            .map(|chain| chain.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        Ok(Call {
            operation: operation.to_string(),
            input: input.to_string(),
            origin: Origin {
                trace_id: header(TRACE).map(str::to_string),
                chain,
                deadline,
                max_attempts,
                no_cache: header(NO_CACHE).is_some(),
                lent: Vec::new(),
                here: true,
            },
        })
    }
}

/// A host's reply to a call; `host` is the id of the host that sent it.
#[allow(missing_docs)]
#[derive(Debug)]
pub enum Reply {
    /// The host had no room; nothing ran.
    Busy { host: String },
    /// The host runs the call; it answers `output` or `error`.
    Accepted { host: String },
    /// The host still runs the call.
    Alive,
    /// The call's result.
    Output { host: String, response: Response },
    /// The call failed there, with its class (or the call could not be read).
    Error {
        host: String,
        kind: ErrorKind,
        message: String,
    },
}

impl Reply {
    /// A reply's headers and body.
    pub fn encode(&self) -> (HeaderMap, Bytes) {
        let mut headers = HeaderMap::new();
        let body = match self {
            Reply::Busy { host } => {
                headers.insert(REPLY, "busy");
                headers.insert(HOST, host.as_str());
                Bytes::new()
            }
            Reply::Accepted { host } => {
                headers.insert(REPLY, "accepted");
                headers.insert(HOST, host.as_str());
                Bytes::new()
            }
            Reply::Alive => {
                headers.insert(REPLY, "alive");
                Bytes::new()
            }
            Reply::Output { host, response } => {
                headers.insert(REPLY, "output");
                headers.insert(HOST, host.as_str());
                headers.insert(TRACE, response.trace_id.as_str());
                headers.insert(FUEL, response.fuel_used.to_string());
                headers.insert(DURATION_US, response.duration.as_micros().to_string());
                if response.cached {
                    headers.insert(CACHED, "1");
                }
                Bytes::from(response.output.clone())
            }
            Reply::Error {
                host,
                kind,
                message,
            } => {
                headers.insert(REPLY, "error");
                headers.insert(HOST, host.as_str());
                headers.insert(KIND, kind.as_str());
                Bytes::from(message.clone())
            }
        };
        (headers, body)
    }

    /// Reads a reply: `None` when it is NATS's own answer that no host subscribes to the agent's
    /// subject; the error says what is wrong with it.
    pub fn read(message: Message) -> Result<Option<Reply>, String> {
        if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Ok(None);
        }
        let headers = message.headers.as_ref();
        let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
        let host = || header(HOST).unwrap_or("?").to_string();
        let text = |body: &Bytes| String::from_utf8_lossy(body).into_owned();
        let reply = match header(REPLY) {
            Some("busy") => Ok(Reply::Busy { host: host() }),
            Some("accepted") => Ok(Reply::Accepted { host: host() }),
            Some("alive") => Ok(Reply::Alive),
            Some("output") => {
                let number = |name: &str| header(name).and_then(|v| v.parse::<u64>().ok());
                let output = String::from_utf8(message.payload.to_vec())
                    .map_err(|e| format!("the output is not UTF-8: {e}"))?;
                let response = Response {
                    output,
                    fuel_used: number(FUEL).unwrap_or(0),
                    duration: Duration::from_micros(number(DURATION_US).unwrap_or(0)),
                    logs_dropped: 0,
                    trace_id: header(TRACE).unwrap_or_default().to_string(),
                    cached: header(CACHED).is_some(),
                    served_by: Some(host()),
                };
                Ok(Reply::Output {
                    host: host(),
                    response,
                })
            }
            Some("error") => Ok(Reply::Error {
                host: host(),
                kind: header(KIND)
                    .and_then(ErrorKind::from_name)
                    .unwrap_or(ErrorKind::Internal),
                message: text(&message.payload),
            }),
            other => Err(format!("an unknown reply ({other:?})")),
        };
        reply.map(Some)
    }
}
