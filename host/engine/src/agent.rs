//! One loaded agent: what it says it is, the compiled component ready to instantiate, its warm
//! instances, and the code path of a call (limits armed, instance checked out, result classified,
//! state writes committed when it succeeded).

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use wasmtime::Engine;

use crate::bindings::{AgentWorldPre, handler, types};
use crate::capabilities::control::Control;
use crate::capabilities::delegation::Delegator;
use crate::capabilities::egress::EgressWatch;
use crate::capabilities::events::EventSink;
use crate::capabilities::host_info::HostInfo;
use crate::error::{CallError, ErrorKind, LoadError, Site};
use crate::pool::{Instance, InstancePool, LeaseError};
use crate::sandbox::{self, DirGrant, Owner, Policy, StoreData};
use crate::state::StateAccess;
use crate::stats::AgentStats;
use tandem_manifest::check_name;

/// What an agent says about itself (`describe()`), validated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgentInfo {
    /// The agent's id, e.g. `linter`.
    pub id: String,
    /// Its version.
    pub version: semver::Version,
    /// What it does, in a sentence.
    pub description: String,
    /// The operations it offers.
    pub operations: Vec<OperationInfo>,
    /// The capabilities it says it uses (informational; its manifest grants them).
    pub capabilities: Vec<String>,
}

/// One operation of an agent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OperationInfo {
    /// The operation's name, e.g. `lint`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The same input always gives the same output: its results may be cached.
    pub deterministic: bool,
    /// An input to show users.
    pub input_example: Option<serde_json::Value>,
    /// The JSON Schema of its input, when the agent declares one (the optional `schemas` export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<serde_json::Value>,
}

impl AgentInfo {
    /// Validates what the guest's `describe()` and `input-schemas()` returned.
    fn from_guest(
        info: types::AgentInfo,
        schemas: Vec<(String, String)>,
    ) -> Result<AgentInfo, String> {
        check_name("agent id", &info.id)?;
        let version = semver::Version::parse(&info.version)
            .map_err(|e| format!("version `{}` is not a semantic version: {e}", info.version))?;
        let mut operations: Vec<OperationInfo> = Vec::with_capacity(info.operations.len());
        for op in info.operations {
            check_name("operation name", &op.name)?;
            if operations.iter().any(|o| o.name == op.name) {
                return Err(format!("operation `{}` is listed twice", op.name));
            }
            let input_example = match op.input_example {
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                    format!(
                        "operation `{}`: the input example is not JSON: {e}",
                        op.name
                    )
                })?),
                None => None,
            };
            operations.push(OperationInfo {
                name: op.name,
                description: op.description,
                deterministic: op.deterministic,
                input_example,
                input_schema: None,
            });
        }
        if operations.is_empty() {
            return Err("it offers no operations".to_string());
        }
        let offered: Vec<&str> = operations.iter().map(|o| o.name.as_str()).collect();
        let mut schemas = crate::schemas::check(schemas, &offered)?;
        for op in &mut operations {
            op.input_schema = schemas.remove(&op.name);
        }
        Ok(AgentInfo {
            id: info.id,
            version,
            description: info.description,
            operations,
            capabilities: info.capabilities,
        })
    }

    /// The operation called `name`, if the agent offers it.
    pub fn operation(&self, name: &str) -> Option<&OperationInfo> {
        self.operations.iter().find(|o| o.name == name)
    }
}

/// A call to make: the operation and input plus where it sits in a trace.
#[derive(Debug, Clone)]
pub struct Request {
    /// The task's id, unique within the host.
    pub task_id: u64,
    /// The operation to run.
    pub operation: String,
    /// JSON text, already validated.
    pub input: String,
    /// The trace the call belongs to.
    pub trace_id: String,
    /// The agents that delegated down to this call, outermost first.
    pub chain: Vec<String>,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// When the call must be done by; `None` means the agent's own timeout from now.
    pub deadline: Option<Instant>,
    /// Directories lent to this call by its caller (checked by the layer above): mounted in a
    /// new instance that ends with the call.
    pub lent: Vec<DirGrant>,
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Response {
    /// JSON text returned by the guest.
    pub output: String,
    /// Fuel the call used.
    pub fuel_used: u64,
    /// How long the call took, the wait for an instance included.
    pub duration: Duration,
    /// Log records the call wrote past its limit, which were dropped.
    pub logs_dropped: u32,
    /// The trace the call belonged to.
    pub trace_id: String,
    /// The output came from the result cache: the guest did not run.
    pub cached: bool,
    /// The host of a cluster that ran the call, when the call left this one.
    pub served_by: Option<String>,
}

/// Where a loaded agent's instances reach outside the engine: the layer above implements the
/// traits and owns the agents (so they are held weakly), and the host's state store.
#[derive(Clone)]
pub struct HostLinks {
    /// Where guests' calls to other agents go.
    pub delegator: Weak<dyn Delegator>,
    /// Where guests' events go.
    pub events: Weak<dyn EventSink>,
    /// What granted guests read of the host.
    pub host_info: Weak<dyn HostInfo>,
    /// What granted guests do to other agents' versions.
    pub control: Weak<dyn Control>,
    /// Where the outcome of granted guests' outbound requests goes.
    pub egress: Weak<dyn EgressWatch>,
    /// The host's durable state.
    pub state: Arc<StateAccess>,
}

/// A loaded agent.
pub struct Agent {
    /// What `describe()` returned.
    pub info: AgentInfo,
    /// Hex SHA-256 of the component's bytes.
    pub content_hash: String,
    /// Where the component came from: its file, or a description of an upload.
    pub source: PathBuf,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    id: Arc<str>,
    policy: Arc<Policy>,
    pool: InstancePool,
    stats: Arc<AgentStats>,
    state: Arc<StateAccess>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("id", &self.id)
            .field("version", &self.info.version.to_string())
            .field("content_hash", &self.content_hash)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Instantiates the component once, reads `describe()`, runs the `health()` probe, and keeps that
    /// instance warm for the first call.
    pub async fn load(
        engine: &Engine,
        pre: AgentWorldPre<StoreData>,
        source: PathBuf,
        content_hash: String,
        policy: Policy,
        links: HostLinks,
    ) -> Result<Agent, LoadError> {
        let owner = Owner {
            policy: Arc::new(policy),
            stats: Arc::new(AgentStats::default()),
            delegator: links.delegator,
            events: links.events,
            host_info: links.host_info,
            control: links.control,
            egress: links.egress,
            state: links.state,
        };
        let policy = owner.policy.clone();
        let fail = |reason: String| LoadError::Describe {
            path: source.clone(),
            reason,
        };
        let placeholder = Arc::from("<loading>");
        // Instantiation, `describe()` and `health()` run guest code.
        let _running = crate::engine::running();
        let mut instance = Instance::new(engine, &pre, placeholder, &owner)
            .await
            .map_err(|e| fail(format!("{e:#}")))?;
        // `describe()` and `health()` share one budget, the agent's timeout: a guest that computes
        // or waits (a WASI sleep) past it fails to load, alone.
        let now = Instant::now();
        let deadline = now + policy.limits.timeout;
        let timed_out = |what: &str| {
            fail(format!(
                "`{what}` did not finish within the agent's timeout of {:?}",
                policy.limits.timeout
            ))
        };
        sandbox::begin_call(&mut instance.store, "describe", "", &[], now, deadline)
            .map_err(|e| fail(format!("{e:#}")))?;
        let handler = instance.world.tandem_agent_handler();
        let info = finish_by(deadline, handler.call_describe(&mut instance.store))
            .await
            .map_err(|_| timed_out("describe()"))?
            .map_err(|e| fail(format!("{e:#}")))?;
        let schemas = finish_by(
            deadline,
            crate::schemas::read(&mut instance.store, &instance.raw),
        )
        .await
        .map_err(|_| timed_out("input-schemas()"))?
        .map_err(|e| fail(format!("{e:#}")))?;
        let info =
            AgentInfo::from_guest(info, schemas).map_err(|reason| LoadError::InvalidInfo {
                path: source.clone(),
                reason,
            })?;
        // The health probe may read the agent's state: give it its namespace.
        let id: Arc<str> = Arc::from(info.id.as_str());
        instance.store.data_mut().call.agent = id.clone();
        if let Err(reason) = finish_by(deadline, handler.call_health(&mut instance.store))
            .await
            .map_err(|_| timed_out("health()"))?
            .map_err(|e| fail(format!("{e:#}")))?
        {
            return Err(fail(format!("the health probe failed: {reason}")));
        }
        if let Some(expected) = policy.expected_id.as_deref().filter(|id| *id != info.id) {
            let reason = format!(
                "its manifest says it is `{expected}`, but it describes itself as `{}`",
                info.id
            );
            return Err(LoadError::InvalidInfo {
                path: source.clone(),
                reason,
            });
        }
        if let Some(trigger) = policy
            .triggers
            .iter()
            .find(|t| info.operation(&t.operation).is_none())
        {
            let offered: Vec<&str> = info.operations.iter().map(|o| o.name.as_str()).collect();
            let reason = format!(
                "its manifest's trigger `{}` calls operation `{}`, which it does not offer (offered: {})",
                trigger.name,
                trigger.operation,
                offered.join(", ")
            );
            return Err(LoadError::InvalidInfo {
                path: source.clone(),
                reason,
            });
        }
        Ok(Agent {
            state: owner.state.clone(),
            stats: owner.stats.clone(),
            pool: InstancePool::new(engine, pre, id.clone(), owner, instance),
            info,
            content_hash,
            source,
            loaded_at: SystemTime::now(),
            id,
            policy,
        })
    }

    /// The agent's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the agent is allowed.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The counters of this version's calls.
    pub fn stats(&self) -> &Arc<AgentStats> {
        &self.stats
    }

    /// Calls waiting for a free instance now.
    pub fn queued_calls(&self) -> usize {
        self.pool.queued()
    }

    /// Warm instances waiting for a call.
    pub fn idle_instances(&self) -> usize {
        self.pool.idle()
    }

    /// Instances alive: warm, running a call, or being created.
    pub fn live_instances(&self) -> usize {
        self.pool.live()
    }

    /// The most instances that were alive at once: how many calls ran concurrently at the peak.
    pub fn peak_instances(&self) -> usize {
        self.pool.peak()
    }

    /// Runs one call within the agent's limits: no breaker, no retries (the runtime's dispatcher
    /// adds those).
    pub async fn call(&self, request: Request) -> Result<Response, CallError> {
        self.attempt(request, Instant::now())
            .await
            .map_err(|(error, _)| error)
    }

    /// One attempt at a call, which started at `started` (the caller's clock reading, so that a
    /// call reads the clock once on the way in). On failure the request comes back with the error,
    /// so that a retry needs no copy of it.
    pub async fn attempt(
        &self,
        request: Request,
        started: Instant,
    ) -> Result<Response, (CallError, Request)> {
        // The agent's `timeout` bounds its run, from when the call has an instance; the caller's
        // deadline bounds the whole call, the wait for an instance included. A call still waiting
        // at its deadline (or, without one, after the agent's timeout) is `overloaded`, which says
        // nothing about the agent's health.
        let timeout = self.policy.limits.timeout;
        let run_deadline = |from: Instant| {
            let own = from + timeout;
            request.deadline.map_or(own, |caller| caller.min(own))
        };
        let mut deadline = run_deadline(started);
        let mut budget = deadline.saturating_duration_since(started);
        let mut task = types::Task {
            id: request.task_id,
            operation: request.operation,
            input: request.input,
            time_left_ms: budget.as_millis() as u64,
            attempt: request.attempt,
            trace_id: request.trace_id,
            chain: request.chain,
        };
        let give_back = |task: types::Task| Request {
            task_id: task.id,
            operation: task.operation,
            input: task.input,
            trace_id: task.trace_id,
            chain: task.chain,
            attempt: task.attempt,
            deadline: request.deadline,
            lent: request.lent.clone(),
        };
        let site = |task: &types::Task| Site {
            agent: self.id.to_string(),
            operation: task.operation.clone(),
        };
        let limits = &self.policy.limits;
        // From the lease (which may instantiate) to the call's end, guest code may run.
        let _running = crate::engine::running();
        let mut lease = match self.pool.lease(deadline, &request.lent).await {
            Ok(lease) => lease,
            Err(e) => {
                let error = match e {
                    LeaseError::Instantiate(e) => {
                        crate::trap::classify(e, site(&task), limits, budget)
                    }
                    LeaseError::QueueFull { waiting } => CallError::Overloaded {
                        site: site(&task),
                        reason: format!(
                            "all {} instances are busy and {waiting} calls wait already (`limits.max-queue`)",
                            limits.max_instances
                        ),
                    },
                    LeaseError::Deadline => CallError::Overloaded {
                        site: site(&task),
                        reason: format!(
                            "no instance became free within {}ms (all {} busy)",
                            budget.as_micros().div_ceil(1000),
                            limits.max_instances
                        ),
                    },
                };
                return Err((error, give_back(task)));
            }
        };
        let run_started = if lease.waited {
            let now = Instant::now();
            deadline = run_deadline(now);
            budget = deadline.saturating_duration_since(now);
            task.time_left_ms = budget.as_millis() as u64;
            now
        } else {
            started
        };
        let instance = lease.instance();
        if let Err(e) = sandbox::begin_call(
            &mut instance.store,
            &task.operation,
            &task.trace_id,
            &task.chain,
            run_started,
            deadline,
        ) {
            let error = CallError::Internal {
                site: site(&task),
                reason: format!("{e:#}"),
            };
            return Err((error, give_back(task)));
        }
        let handler = instance.world.tandem_agent_handler();
        let outcome = finish_by(deadline, handler.call_handle(&mut instance.store, &task)).await;
        let fuel_used = sandbox::fuel_used(&instance.store);
        self.stats.add_fuel(fuel_used);
        let result = match outcome {
            Err(_elapsed) => {
                let error = CallError::Timeout {
                    site: site(&task),
                    limit: budget,
                    backtrace: String::new(),
                };
                return Err((error, give_back(task)));
            }
            // The lease is dropped, not kept: an instance that trapped is never reused.
            Ok(Err(trap)) => {
                return Err((
                    crate::trap::classify(trap, site(&task), limits, budget),
                    give_back(task),
                ));
            }
            Ok(Ok(result)) => result,
        };
        let logs_dropped = instance.store.data().log.dropped();
        let egress_denial = instance.store.data().egress.last_denial();
        let writes = instance.store.data_mut().state.take_writes();
        lease.keep();
        // One verdict per call, reached before anything is committed: an output over the limit or
        // that is not JSON fails the call, and its writes are not kept.
        let error = match result {
            Ok(output) if output.len() <= limits.max_output_bytes => {
                if let Err(reason) = crate::json::check(&output) {
                    let error = CallError::InvalidOutput {
                        site: site(&task),
                        reason,
                    };
                    return Err((error, give_back(task)));
                }
                if let Some(writes) = writes.filter(|w| !w.is_empty()) {
                    let quota = self.policy.state_quota;
                    let committed =
                        crate::state::shared::commit(&self.state, &self.id, writes, quota).await;
                    if let Err(error) = committed {
                        let error = CallError::State {
                            site: site(&task),
                            error,
                        };
                        return Err((error, give_back(task)));
                    }
                }
                return Ok(Response {
                    output,
                    fuel_used,
                    duration: started.elapsed(),
                    logs_dropped,
                    trace_id: task.trace_id,
                    cached: false,
                    served_by: None,
                });
            }
            Ok(output) => CallError::OutputTooLarge {
                site: site(&task),
                size: output.len(),
                limit: limits.max_output_bytes,
            },
            // The guest gave up after a write was refused over quota: report the refusal.
            Err(handler::AgentError::Failed(_))
                if writes.as_ref().is_some_and(|w| w.refused().is_some()) =>
            {
                CallError::State {
                    site: site(&task),
                    error: writes
                        .and_then(|w| w.refused().cloned())
                        .expect("checked above"),
                }
            }
            Err(error) => guest_error(site(&task), error, egress_denial, limits.max_output_bytes),
        };
        Err((error, give_back(task)))
    }
}

/// The longest error message a guest's error carries on (cut, and marked, past this or the agent's
/// `max-output` if that is smaller).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 64 * 1024;

/// Runs `call` to completion or until `deadline`. Epoch interruption stops a guest that computes past
/// its deadline; this also stops one that waits past it inside a host call (a WASI sleep, say). A
/// call that finishes without ever waiting, as most do, never registers a timer.
async fn finish_by<F: Future>(
    deadline: Instant,
    call: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut call = std::pin::pin!(call);
    if let Poll::Ready(output) =
        std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await
    {
        return Ok(output);
    }
    tokio::time::timeout_at(deadline.into(), call).await
}

/// Maps an error the guest returned to the host's classification; its message is cut to
/// [`MAX_ERROR_MESSAGE_BYTES`] (or `max_output`, if smaller). A `denied` or `failed` error of a call
/// in which the host refused an outbound request carries the host's reason (the rule), which the
/// guest only saw as `http-request-denied`.
fn guest_error(
    site: Site,
    error: handler::AgentError,
    egress_denial: Option<String>,
    max_output: usize,
) -> CallError {
    use handler::AgentError as E;
    // What the host refused, for errors a refused request may have caused (a JavaScript `fetch`
    // fails with a bare `TypeError`).
    let with_denial = |m: String| match &egress_denial {
        Some(reason) => format!("{m} ({reason})"),
        None => m,
    };
    let (kind, message) = match error {
        E::InvalidInput(m) | E::UnsupportedOperation(m) => (ErrorKind::InvalidInput, m),
        E::Failed(m) => (ErrorKind::Failed, with_denial(m)),
        E::Retryable(m) => (ErrorKind::Retryable, m),
        E::Denied(m) => (ErrorKind::Denied, with_denial(m)),
        E::Timeout(m) => (ErrorKind::Timeout, m),
        E::DependencyFailed(e) => (
            ErrorKind::DependencyFailed,
            format!(
                "{}.{} failed ({:?}): {}",
                e.agent, e.operation, e.kind, e.message
            ),
        ),
    };
    CallError::Guest {
        site,
        kind,
        message: crate::text::truncate(message, MAX_ERROR_MESSAGE_BYTES.min(max_output)),
    }
}
