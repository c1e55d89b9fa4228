//! The host's canary entry points: a new version of an agent compiled, described and probed like
//! a swap, then served beside the current one (see [`crate::canary`]); and the changes after.

use std::path::Path;
use std::sync::Arc;

use super::Host;
use crate::canary::{Canary, GuardRails, check_weight};
use crate::registry::CanaryError;
use crate::sandbox::Policy;

impl Host {
    /// Serves the component `bytes` as a canary of agent `id` at `weight` percent of the traces,
    /// with `guard` for its guard rails. It must pass every check a swap makes (compiled,
    /// described as `id`, health-probed) and carry another version than the current one; a
    /// component that does not is reported as rejected, and nothing changes.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_canary(
        &self,
        id: &str,
        path: &Path,
        bytes: Vec<u8>,
        policy: Policy,
        weight: u8,
        guard: GuardRails,
        by: &str,
    ) -> Result<Arc<Canary>, CanaryError> {
        // What can be refused without compiling anything is refused first.
        check_weight(weight).map_err(CanaryError::Invalid)?;
        guard.check().map_err(CanaryError::Invalid)?;
        self.dispatcher.registry().open_to_canary(id)?;
        let prepared = self.prepare_bytes(path, bytes, policy).await;
        let agent = self.checked_version(Some(id), path, prepared, by)?;
        self.dispatcher
            .start_canary(Canary::new(agent, weight, guard, by))
    }

    /// Sets the share of traces `id`'s canary serves.
    pub fn set_canary_weight(
        &self,
        id: &str,
        weight: u8,
        by: &str,
    ) -> Result<Arc<Canary>, CanaryError> {
        self.dispatcher.set_canary_weight(id, weight, by)
    }

    /// Makes `id`'s canary its current version.
    pub fn promote_canary(&self, id: &str, by: &str) -> Result<Arc<Canary>, CanaryError> {
        self.dispatcher.promote_canary(id, by)
    }

    /// Ends `id`'s canary; all its traces go back to the current version.
    pub fn abort_canary(&self, id: &str, by: &str) -> Result<Arc<Canary>, CanaryError> {
        self.dispatcher.abort_canary(id, by, None)
    }

    /// The canary of `id`, if it has one.
    pub fn canary(&self, id: &str) -> Option<Arc<Canary>> {
        self.dispatcher.registry().canary(id)
    }
}
