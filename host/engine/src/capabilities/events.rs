//! `tandem:agent/events`: custom events from guests, recorded in the host's tracing (target
//! `tandem::events`) and handed to an [`EventSink`] (the runtime publishes them on its live event
//! stream, `GET /events`); names and payloads are bounded.

use std::sync::Weak;

use crate::bindings::events::Host;
use crate::sandbox::StoreData;
use crate::text::truncate;

const MAX_NAME_BYTES: usize = 128;
const MAX_DATA_BYTES: usize = 64 * 1024;

/// Where guests' events go: defined here, implemented by the runtime's event stream.
pub trait EventSink: Send + Sync {
    /// `agent`, in the call of `trace_id`, emitted `name` with `data` (both already bounded).
    fn guest_event(&self, agent: &str, trace_id: &str, name: String, data: String);
}

/// One instance's events capability.
pub struct EventsCtx {
    /// Weak, as the sink's owner may own this instance.
    sink: Weak<dyn EventSink>,
}

impl EventsCtx {
    /// Events handed to `sink`.
    pub fn new(sink: Weak<dyn EventSink>) -> EventsCtx {
        EventsCtx { sink }
    }
}

impl Host for StoreData {
    async fn emit(&mut self, name: String, data: String) {
        let call = &self.call;
        let (name, data) = (
            truncate(name, MAX_NAME_BYTES),
            truncate(data, MAX_DATA_BYTES),
        );
        tracing::info!(target: "tandem::events", agent = &*call.agent, trace_id = call.trace_id, name, data, "guest event");
        if let Some(sink) = self.events.sink.upgrade() {
            sink.guest_event(&call.agent, &call.trace_id, name, data);
        }
    }
}
