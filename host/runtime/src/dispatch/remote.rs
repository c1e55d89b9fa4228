//! Calls that run on another host: when this host is one of several sharing the work (a cluster),
//! every call that may leave it (the HTTP API, a guest's delegation, a graph node, a trigger) is
//! handed to the cluster, which runs it on a host that serves the agent and has room. The trait is
//! defined here and implemented by the layer that joins the cluster (`tandem-cluster`).

use futures::future::BoxFuture;

use super::Origin;
use crate::agent::Response;
use crate::error::CallError;

/// Where calls go when the host shares the work with others.
pub trait Remote: Send + Sync {
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
}

/// Whether a call with `origin` may leave this host: not when the cluster already handed it here,
/// and not when the caller lends it directories (they are this host's files).
pub(super) fn may_leave(origin: &Origin) -> bool {
    !origin.here && origin.lent.is_empty()
}
