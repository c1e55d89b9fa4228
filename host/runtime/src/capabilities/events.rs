//! `tandem:agent/events`: custom events from guests, published on the host's live event stream
//! (`GET /events`) and recorded in its tracing (target `tandem::events`); names and payloads are
//! bounded.

use crate::bindings::events::Host;
use crate::events::EventKind;
use crate::sandbox::StoreData;
use crate::text::truncate;

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
        if let Some(dispatcher) = self.dispatcher.upgrade() {
            dispatcher.events().publish(EventKind::Guest {
                agent: call.agent.to_string(),
                trace_id: call.trace_id.clone(),
                name,
                data,
            });
        }
    }
}
