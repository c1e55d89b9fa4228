//! [`StateAccess`]: the state store of a host, opened the first time it is needed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::{SharedState, StateError, StateStore};

/// The state store of a host, opened the first time a call or command needs it, so that a host whose
/// agents keep no state never touches the file; or the state a cluster's hosts share, once the host
/// joined one.
pub struct StateAccess {
    file: Option<PathBuf>,
    store: OnceLock<StateStore>,
    opening: Mutex<()>,
    shared: OnceLock<Arc<dyn SharedState>>,
}

impl std::fmt::Debug for StateAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateAccess")
            .field("file", &self.file)
            .field("shared", &self.shared.get().is_some())
            .finish_non_exhaustive()
    }
}

impl StateAccess {
    /// Access to the store at `file`; `None` keeps no state (every state operation is refused as
    /// [`StateError::Disabled`]).
    pub fn new(file: Option<PathBuf>) -> StateAccess {
        StateAccess {
            file,
            store: OnceLock::new(),
            opening: Mutex::new(()),
            shared: OnceLock::new(),
        }
    }

    /// Keeps the agents' state in `shared` from now on (once: the host joined a cluster); the
    /// host's file stays for `tandem state` and is no longer written by calls.
    pub fn share(&self, shared: Arc<dyn SharedState>) {
        let _ = self.shared.set(shared);
    }

    /// The shared state, once the host joined a cluster.
    pub fn shared(&self) -> Option<&Arc<dyn SharedState>> {
        self.shared.get()
    }

    /// The store file, if the host keeps state.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The store, opened now if it was not yet (an open that fails is tried again next time).
    pub fn store(&self) -> Result<&StateStore, StateError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let file = self.file.as_deref().ok_or(StateError::Disabled)?;
        let _opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = StateStore::open(file)?;
        Ok(self.store.get_or_init(|| store))
    }
}
