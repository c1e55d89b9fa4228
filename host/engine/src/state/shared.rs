//! State shared by the hosts of a cluster ([`SharedState`], implemented by the layer that joins
//! one): each agent's namespace is one value with a revision. A call that touches state reads the
//! namespace once, at its first state operation ([`prepare`]); its writes are laid over it and
//! stored when it succeeds ([`commit`]) only if the namespace is still at the revision it read, so
//! calls of one agent on any hosts are serializable; a call that lost the race fails with
//! [`StateError::Overtaken`] (a `conflict`: retried, none of its writes kept). Without a cluster the host's own
//! redb file is used as before.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use super::snapshot::View;
use super::{Changes, Quota, Snapshot, StateAccess, StateError};

/// How the shared store is named in errors.
pub const SHARED: &str = "the cluster's shared state";

/// An agent's namespace and the revision it was read at (0: it has none yet).
pub type Namespace = (u64, BTreeMap<String, Vec<u8>>);

/// Where the agents' state lives when the host shares it with others.
pub trait SharedState: Send + Sync {
    /// `agent`'s namespace as stored now.
    fn load<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, Result<Namespace, StateError>>;

    /// Stores `entries` as `agent`'s namespace if it is still at `revision` (0: absent), else
    /// fails with [`StateError::Overtaken`].
    fn store<'a>(
        &'a self,
        agent: &'a str,
        revision: u64,
        entries: BTreeMap<String, Vec<u8>>,
    ) -> BoxFuture<'a, Result<(), StateError>>;
}

/// Reads `agent`'s namespace into the call's `changes` before its first state operation, when
/// the state is shared (nothing to do otherwise, or once read).
pub async fn prepare(
    access: &StateAccess,
    agent: &str,
    changes: &mut Changes,
) -> Result<(), StateError> {
    let Some(shared) = access.shared() else {
        return Ok(());
    };
    if changes.snapshot.is_none() {
        let (revision, entries) = shared.load(agent).await?;
        changes.snapshot = Some(Box::new(Snapshot::shared(agent, revision, entries)));
    }
    Ok(())
}

/// Commits a call's writes: to the shared state when the call read it, else to the host's file.
pub async fn commit(
    access: &StateAccess,
    agent: &str,
    changes: Changes,
    quota: Quota,
) -> Result<(), StateError> {
    let Some(shared) = access.shared() else {
        return access.store()?.commit(agent, changes, quota).await;
    };
    let Some(snapshot) = changes.snapshot else {
        return Err(StateError::Store {
            path: SHARED.into(),
            reason: "a call wrote state it had not read (a host bug)".into(),
        });
    };
    let View::Shared {
        revision,
        mut entries,
        ..
    } = snapshot.view
    else {
        return Err(StateError::Store {
            path: SHARED.into(),
            reason: "a call read the host's own state while it is shared (a host bug)".into(),
        });
    };
    // Quota was checked write by write against what the call read.
    for (key, pending) in changes.writes {
        match pending.value {
            Some(value) => entries.insert(key, value),
            None => entries.remove(&key),
        };
    }
    shared.store(agent, revision, entries).await
}
