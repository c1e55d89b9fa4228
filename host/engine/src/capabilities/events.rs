//! `tandem:agent/events`: custom events from guests, recorded in the host's tracing (target
//! `tandem::events`) and handed to an [`EventSink`] (the runtime publishes them on its live event
//! stream, `GET /events`); names and payloads are bounded. The capability owns its context
//! ([`EventsCtx`]) and implements the generated `Host` trait on [`EventsView`].

use std::sync::Weak;

use wasmtime::component::{HasData, Linker};

use crate::bindings::events::{self, Host};
use crate::sandbox::{CallState, StoreData};
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

/// What `emit` sees: the context and the call that emits.
pub struct EventsView<'a> {
    ctx: &'a EventsCtx,
    call: &'a CallState,
}

struct HasEvents;

impl HasData for HasEvents {
    type Data<'a> = EventsView<'a>;
}

impl StoreData {
    fn events_view(&mut self) -> EventsView<'_> {
        EventsView {
            ctx: &self.events,
            call: &self.call,
        }
    }
}

/// Links `tandem:agent/events`.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    events::add_to_linker::<StoreData, HasEvents>(linker, StoreData::events_view)
}

impl Host for EventsView<'_> {
    async fn emit(&mut self, name: String, data: String) {
        let call = self.call;
        let (name, data) = (
            truncate(name, MAX_NAME_BYTES),
            truncate(data, MAX_DATA_BYTES),
        );
        tracing::info!(target: "tandem::events", agent = &*call.agent, trace_id = call.trace_id, name, data, "guest event");
        if let Some(sink) = self.ctx.sink.upgrade() {
            sink.guest_event(&call.agent, &call.trace_id, name, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(String, String, String, usize)>>);

    impl EventSink for Collect {
        fn guest_event(&self, agent: &str, trace_id: &str, name: String, data: String) {
            let seen = (agent.to_string(), trace_id.to_string(), name, data.len());
            self.0.lock().unwrap().push(seen);
        }
    }

    #[tokio::test]
    async fn events_are_tagged_with_the_call_and_bounded() {
        let collect = Arc::new(Collect::default());
        let sink: Arc<dyn EventSink> = collect.clone();
        let ctx = EventsCtx::new(Arc::downgrade(&sink));
        let call = CallState {
            agent: "monitor".into(),
            operation: "watch".into(),
            trace_id: "t9".into(),
            deadline: Instant::now(),
            chain: Vec::new(),
        };
        let mut view = EventsView {
            ctx: &ctx,
            call: &call,
        };
        view.emit("alert".into(), "x".repeat(1 << 20)).await;
        let seen = collect.0.lock().unwrap();
        assert_eq!((seen[0].0.as_str(), seen[0].1.as_str()), ("monitor", "t9"));
        assert_eq!(seen[0].2, "alert");
        assert!(seen[0].3 < MAX_DATA_BYTES + 32, "{}", seen[0].3);
    }
}
