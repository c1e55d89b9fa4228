//! One agent calling another through the host: the rules of a hop (the caller's manifest must name
//! the callee, the hop must not close a cycle, the chain must not grow past [`MAX_DEPTH`], and the
//! callee inherits the caller's trace and what is left of its deadline), and the dispatcher's side of
//! the engine's [`Delegator`] trait.
//!
//! A caller may lend the callee directories for the one call (see [`lend`]): never wider than its
//! own grant, and only to a callee whose manifest accepts lent directories.
//!
//! Refused hops are `denied` errors, logged, published as events and audited; allowed hops are
//! counted in both agents' stats and go through the dispatcher like any call (breaker, retries).
//! `run-graph` hands a whole graph to the scheduler (every node's agent must be granted).

use std::path::{Component, Path};
use std::sync::Arc;

use futures::future::BoxFuture;
use tandem_engine::bindings::delegation::{
    Call, FailurePolicy, Graph, Lend, NodeOutcome, NodeResult,
};
use tandem_engine::bindings::types::{CallError as WitCallError, ErrorKind as WitKind};
use tandem_engine::capabilities::delegation::wit_kind;
use tandem_engine::{Caller, Delegator};

use crate::dispatch::{Dispatcher, Origin};
use crate::sandbox::{DirGrant, Grants};
use crate::scheduler::{self, Outcome};

/// The longest delegation chain, the user's call included.
pub const MAX_DEPTH: usize = 8;
/// The most directories one call may be lent.
pub const MAX_LENDS: usize = 8;

/// The parts of a guest path (`/repo/src`, `repo/./src/` -> `repo`, `src`); `..` is refused.
fn parts(path: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("`{path}`: `..` is not allowed in a lent path")),
            part => parts.push(part),
        }
    }
    Ok(parts)
}

/// The directories `callee` (with grants `callee_grants`) is lent by `caller` for one call, each
/// checked: within one of the caller's directories (after symbolic links are resolved), writable
/// only where the caller may write and it did not ask for read-only, at a guest path the callee
/// does not use already; and the callee must accept lent directories.
pub fn lend(
    caller: &Caller<'_>,
    callee: &str,
    callee_grants: &Grants,
    lends: &[Lend],
) -> Result<Vec<DirGrant>, String> {
    if lends.is_empty() {
        return Ok(Vec::new());
    }
    if !callee_grants.accept_lent_dirs {
        return Err(format!(
            "`{callee}` does not accept lent directories (`accept-lent-dirs = true` in its manifest's [capabilities])"
        ));
    }
    if lends.len() > MAX_LENDS {
        return Err(format!(
            "{} directories lent to one call; at most {MAX_LENDS}",
            lends.len()
        ));
    }
    let mut lent: Vec<DirGrant> = Vec::with_capacity(lends.len());
    for lend in lends {
        let wanted = parts(&lend.path)?;
        let (grant, rest) = caller
            .dirs
            .iter()
            .find_map(|grant| {
                let root = parts(&grant.guest).ok()?;
                wanted
                    .strip_prefix(root.as_slice())
                    .map(|rest| (grant, rest))
            })
            .ok_or_else(|| {
                let granted: Vec<&str> = caller.dirs.iter().map(|d| d.guest.as_str()).collect();
                format!(
                    "`{}` is not within a directory `{}` was granted (granted: {})",
                    lend.path,
                    caller.agent,
                    if granted.is_empty() {
                        "none".to_string()
                    } else {
                        granted.join(", ")
                    }
                )
            })?;
        let host = rest
            .iter()
            .fold(grant.host.clone(), |path, part| path.join(part));
        let root = grant
            .host
            .canonicalize()
            .map_err(|e| format!("`{}`: the caller's directory is not usable: {e}", lend.path))?;
        let real = host
            .canonicalize()
            .map_err(|e| format!("`{}` cannot be lent: {e}", lend.path))?;
        if !real.starts_with(&root) {
            return Err(format!(
                "`{}` leads outside `{}`'s directory `{}` (a symbolic link)",
                lend.path, caller.agent, grant.guest
            ));
        }
        if !real.is_dir() {
            return Err(format!("`{}` is not a directory", lend.path));
        }
        let guest = parts(&lend.guest)?;
        if guest.is_empty() || guest.iter().any(|p| p.len() > 255) {
            return Err(format!(
                "`{}` is not a usable guest path for a lent directory",
                lend.guest
            ));
        }
        let taken = |other: &str| parts(other).is_ok_and(|p| p == guest);
        if callee_grants.dirs.iter().any(|d| taken(&d.guest))
            || lent.iter().any(|d| taken(&d.guest))
        {
            return Err(format!(
                "`{callee}` already sees a directory at `{}`",
                lend.guest
            ));
        }
        lent.push(DirGrant {
            host: real,
            guest: Path::new(&lend.guest)
                .components()
                .filter(|c| !matches!(c, Component::CurDir))
                .collect::<std::path::PathBuf>()
                .to_string_lossy()
                .into_owned(),
            writable: grant.writable && !lend.read_only,
        });
    }
    Ok(lent)
}

/// The origin of `caller`'s call to `callee`, or why the hop is refused.
pub fn hop(caller: &Caller<'_>, callee: &str) -> Result<Origin, String> {
    if !caller.granted.iter().any(|granted| granted == callee) {
        return Err(format!(
            "`{}` may not delegate to `{callee}`: not granted in its manifest",
            caller.agent
        ));
    }
    if callee == caller.agent || caller.chain.iter().any(|a| a == callee) {
        let mut cycle: Vec<&str> = caller
            .chain
            .iter()
            .map(String::as_str)
            .skip_while(|a| *a != callee)
            .collect();
        cycle.extend([caller.agent, callee]);
        if cycle.first() != Some(&callee) {
            cycle.insert(0, callee);
        }
        return Err(format!("delegation cycle refused: {}", cycle.join(" -> ")));
    }
    if caller.chain.len() + 2 > MAX_DEPTH {
        return Err(format!(
            "delegation chain too deep: {} agents, at most {MAX_DEPTH}",
            caller.chain.len() + 2
        ));
    }
    let mut chain = caller.chain.to_vec();
    chain.push(caller.agent.to_string());
    Ok(Origin {
        trace_id: Some(caller.trace_id.to_string()),
        chain,
        deadline: Some(caller.deadline),
        max_attempts: None,
        no_cache: false,
        lent: Vec::new(),
        here: false,
    })
}

fn wit_error(agent: &str, operation: &str, kind: WitKind, message: String) -> WitCallError {
    WitCallError {
        kind,
        agent: agent.to_string(),
        operation: operation.to_string(),
        message,
    }
}

impl Dispatcher {
    /// The origin of `caller`'s call to `agent` with `lends`, counted as a delegation it made; or
    /// the `denied` error the guest gets, reported.
    fn allow_hop(
        &self,
        caller: &Caller<'_>,
        agent: &str,
        operation: &str,
        lends: &[Lend],
    ) -> Result<Origin, WitCallError> {
        let allowed = hop(caller, agent).and_then(|mut origin| {
            if !lends.is_empty() {
                let callee = self.registry().get(agent).map_err(|e| e.to_string())?;
                origin.lent = lend(caller, agent, &callee.policy().grants, lends)
                    .map_err(|reason| format!("lend refused: {reason}"))?;
            }
            Ok(origin)
        });
        let origin = allowed.map_err(|reason| {
            self.denied_hop(caller, agent, operation, &reason);
            wit_error(agent, operation, WitKind::Denied, reason)
        })?;
        caller.stats.add_delegation_made();
        Ok(origin)
    }
}

impl Delegator for Dispatcher {
    fn delegate<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        call: Call,
        lends: Vec<Lend>,
    ) -> BoxFuture<'a, Result<String, WitCallError>> {
        let hop = self.allow_hop(&caller, &call.agent, &call.operation, &lends);
        Box::pin(async move {
            let origin = hop?;
            let Call {
                agent,
                operation,
                input,
            } = call;
            match self.call(&agent, &operation, input, origin).await {
                Ok(response) => Ok(response.output),
                Err(error) => Err(WitCallError {
                    kind: wit_kind(error.kind()),
                    message: error.to_string(),
                    agent,
                    operation,
                }),
            }
        })
    }

    fn run_graph<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        graph: Graph,
        lends: Vec<Lend>,
    ) -> BoxFuture<'a, Result<Vec<NodeResult>, WitCallError>> {
        Box::pin(async move {
            let graph_error = |kind, message| wit_error("", "run-graph", kind, message);
            // Every node's agent must be one this agent may delegate to.
            let mut origin = None;
            let mut nodes = Vec::with_capacity(graph.nodes.len());
            for node in graph.nodes {
                let hop = self.allow_hop(&caller, &node.agent, &node.operation, &lends)?;
                origin.get_or_insert(hop);
                let input = serde_json::from_str(&node.input).map_err(|e| {
                    graph_error(
                        WitKind::InvalidInput,
                        format!("node `{}`: the input is not JSON: {e}", node.id),
                    )
                })?;
                nodes.push(scheduler::Node {
                    id: node.id,
                    agent: node.agent,
                    op: node.operation,
                    input,
                    depends_on: node.depends_on,
                    priority: node.priority,
                    max_attempts: node.max_attempts,
                    timeout: node.timeout_ms.map(|ms| format!("{ms}ms")),
                });
            }
            let Some(origin) = origin else {
                return Ok(Vec::new());
            };
            let policy = match graph.policy {
                FailurePolicy::FailFast => scheduler::FailurePolicy::FailFast,
                FailurePolicy::ContinueIndependent => scheduler::FailurePolicy::Continue,
            };
            let plan = scheduler::Plan {
                policy,
                nodes,
                ..scheduler::Plan::default()
            };
            let agents: Vec<(String, String)> = plan
                .nodes
                .iter()
                .map(|n| (n.agent.clone(), n.op.clone()))
                .collect();
            let graph = plan
                .validate(&self)
                .map_err(|e| graph_error(WitKind::InvalidInput, e.to_string()))?;
            let report = graph
                .run(self.clone(), origin, std::future::pending(), |_| {})
                .await;
            Ok(report
                .nodes
                .into_iter()
                .zip(agents)
                .map(|(node, (agent, operation))| NodeResult {
                    outcome: match node.outcome {
                        Outcome::Succeeded { output } => {
                            NodeOutcome::Succeeded(output.get().into())
                        }
                        Outcome::Failed { kind, error } => NodeOutcome::Failed(WitCallError {
                            kind: wit_kind(kind),
                            agent,
                            operation,
                            message: error,
                        }),
                        Outcome::Skipped { reason } => NodeOutcome::Skipped(reason),
                        Outcome::Cancelled { reason } => NodeOutcome::Cancelled(reason),
                    },
                    id: node.id,
                    attempts: node.attempts,
                    duration_us: node.duration_us,
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tandem_engine::stats::AgentStats;

    use super::*;

    static STATS: std::sync::LazyLock<AgentStats> = std::sync::LazyLock::new(AgentStats::default);

    fn caller<'a>(agent: &'a str, chain: &'a [String], granted: &'a [String]) -> Caller<'a> {
        Caller {
            agent,
            chain,
            trace_id: "t",
            deadline: Instant::now(),
            granted,
            dirs: &[],
            stats: &STATS,
        }
    }

    #[test]
    fn a_granted_hop_extends_the_chain_and_keeps_trace_and_deadline() {
        let (chain, granted) = (vec!["a".to_string()], vec!["c".to_string()]);
        let c = caller("b", &chain, &granted);
        let origin = hop(&c, "c").unwrap();
        assert_eq!(origin.chain, ["a", "b"]);
        assert_eq!(origin.trace_id.as_deref(), Some("t"));
        assert_eq!(origin.deadline, Some(c.deadline));
    }

    #[test]
    fn ungranted_cyclic_and_too_deep_hops_are_refused_with_the_reason() {
        let granted = vec!["a".to_string(), "b".to_string(), "z".to_string()];
        assert_eq!(
            hop(&caller("b", &[], &[]), "a").unwrap_err(),
            "`b` may not delegate to `a`: not granted in its manifest"
        );
        let chain = vec!["a".to_string()];
        assert_eq!(
            hop(&caller("b", &chain, &granted), "a").unwrap_err(),
            "delegation cycle refused: a -> b -> a"
        );
        assert_eq!(
            hop(&caller("b", &[], &granted), "b").unwrap_err(),
            "delegation cycle refused: b -> b"
        );
        let deep: Vec<String> = (0..7).map(|i| format!("x{i}")).collect();
        assert!(
            hop(&caller("y", &deep, &granted), "z")
                .unwrap_err()
                .contains("too deep")
        );
    }
}
