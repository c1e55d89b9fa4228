//! The other hosts this one shares the work with (a cluster): every call that may leave the host
//! (the HTTP API, a guest's delegation, a graph node, a trigger) is handed to them, to run on a host
//! that serves the agent and has room; and every change to what this host serves (a swap, a
//! rollback, a canary started, reweighted, promoted or aborted) is told to them, so that all serve
//! the same. The trait is
//! defined here and implemented by the layer that joins the cluster (`tandem-cluster`).

use futures::future::BoxFuture;

use super::Origin;
use crate::agent::Response;
use crate::error::CallError;

/// How a version change applied on behalf of a peer is attributed (`by` = `cluster:<host id>`);
/// such changes are not told back to the peers.
pub const BY_PEER: &str = "cluster:";

/// The hosts this one shares the work with.
pub trait Peers: Send + Sync {
    /// Runs `operation` of `agent` on some host of the cluster (this one included) with what the
    /// call inherits (`origin`: trace, chain, deadline); answers with its result or a classified
    /// error, never silence: a host that stops answering is an `unavailable` error once noticed.
    fn call(
        &self,
        agent: String,
        operation: String,
        input: String,
        origin: Origin,
    ) -> BoxFuture<'static, Result<Response, CallError>>;

    /// What this host serves of `agent` changed (its current version or its canary), not on a
    /// peer's behalf. Called while the registry is locked: it must not block.
    fn versions_changed(&self, agent: &str);

    /// What every host of the cluster that answers in time serves, with its figures.
    fn census(&self) -> BoxFuture<'static, Vec<HostCensus>>;
}

/// One host of a cluster: the agents it serves, each with its current version's figures.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct HostCensus {
    /// The host's id.
    pub host: String,
    /// Its agents, ordered by id.
    pub agents: Vec<AgentCensus>,
}

/// An agent as one host serves it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AgentCensus {
    /// The agent's id.
    pub id: String,
    /// The current version.
    pub version: String,
    /// Its component's content hash.
    pub content_hash: String,
    /// That version's figures on the host.
    pub stats: crate::stats::StatsSnapshot,
}

/// Whether a call with `origin` may leave this host: not when the cluster already handed it here,
/// and not when the caller lends it directories (they are this host's files).
pub(super) fn may_leave(origin: &Origin) -> bool {
    !origin.here && origin.lent.is_empty()
}
