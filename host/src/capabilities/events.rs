//! `tandem:agent/events`: custom events from guests. Until the live event stream lands they are
//! recorded in the host's tracing (target `tandem::events`); names and payloads are bounded.

use super::truncate;
use crate::bindings::events::Host;
use crate::sandbox::StoreData;

const MAX_NAME_BYTES: usize = 128;
const MAX_DATA_BYTES: usize = 64 * 1024;

impl Host for StoreData {
    async fn emit(&mut self, name: String, data: String) {
        let call = &self.call;
        let (name, data) = (
            truncate(name, MAX_NAME_BYTES),
            truncate(data, MAX_DATA_BYTES),
        );
        tracing::info!(target: "tandem::events", agent = &*call.agent, trace_id = call.trace_id, name, data, "guest event");
    }
}
