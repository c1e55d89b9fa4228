//! [`Changes`]: the writes of one call, read back by the call itself and committed together when it
//! succeeds.

use std::collections::BTreeMap;

use super::usage::entry_size;
use super::{Snapshot, StateError, StateStore};

/// A write a call has made but not committed.
#[derive(Debug)]
pub(super) struct Pending {
    /// The new value; `None` deletes the key.
    pub(super) value: Option<Vec<u8>>,
    /// The size of the key's committed entry when the call first wrote it.
    pub(super) committed_size: Option<u64>,
}

/// The writes of one call: read back by the call itself, committed together when it succeeds.
/// The call reads the committed state from one snapshot, taken at its first state operation.
#[derive(Debug, Default)]
pub struct Changes {
    /// Boxed: a call that touches no state moves this struct around and should move little.
    pub(super) snapshot: Option<Box<Snapshot>>,
    pub(super) writes: BTreeMap<String, Pending>,
    /// For keys the call compared (compare-and-swap) against their committed value: that value.
    /// The commit fails with [`StateError::Conflict`] when one changed meanwhile.
    pub(super) expected: BTreeMap<String, Option<Vec<u8>>>,
    /// What the writes add to the agent's committed keys and bytes.
    pub(super) delta_keys: i64,
    pub(super) delta_bytes: i64,
    /// A write of this call refused over quota, if any.
    pub(super) refused: Option<StateError>,
}

impl Changes {
    /// Whether the call wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether the call did anything with state at all.
    pub(super) fn touched(&self) -> bool {
        self.snapshot.is_some() || !self.writes.is_empty() || self.refused.is_some()
    }

    /// Forgets everything (and lets go of the snapshot): for the next call on the same instance.
    pub fn clear(&mut self) {
        if self.touched() {
            *self = Changes::default();
        }
    }

    /// Takes what the call did, leaving nothing behind; `None` when it did nothing with state.
    pub fn take(&mut self) -> Option<Changes> {
        self.touched().then(|| std::mem::take(self))
    }

    /// The call's snapshot of the committed state, taken now if it has none yet.
    pub(super) fn snapshot(&mut self, store: &StateStore) -> Result<&Snapshot, StateError> {
        if self.snapshot.is_none() {
            self.snapshot = Some(Box::new(store.snapshot()?));
        }
        Ok(self.snapshot.as_ref().expect("just set"))
    }

    /// The quota refusal a write of this call got, if any.
    pub fn refused(&self) -> Option<&StateError> {
        self.refused.as_ref()
    }

    /// The size of `key`'s entry as the call sees it, if it exists.
    pub(super) fn pending_size(&self, key: &str) -> Option<Option<u64>> {
        self.writes
            .get(key)
            .map(|p| p.value.as_deref().map(|v| entry_size(key, v)))
    }

    /// Records a write whose `growth` over what the call saw before was already worked out.
    pub(super) fn record(
        &mut self,
        key: &str,
        value: Option<Vec<u8>>,
        committed_size: Option<u64>,
        (keys, bytes): (i64, i64),
    ) {
        self.delta_keys += keys;
        self.delta_bytes += bytes;
        self.writes.insert(
            key.to_string(),
            Pending {
                value,
                committed_size,
            },
        );
    }
}
