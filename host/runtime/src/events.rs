//! The live event stream: lifecycle events (calls, breakers, retries, denied hops, agents loaded,
//! guests' own events, shutdown) published to whoever subscribes, such as `GET /events`.
//!
//! Publishing is free while nobody listens: callers check [`EventBus::active`] (one atomic load)
//! before they build an event. A subscriber that falls more than [`CAPACITY`] events behind misses the
//! oldest and is told how many it missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::breaker::BreakerState;
use crate::error::ErrorKind;

/// Events kept for a subscriber that has not read them yet.
pub const CAPACITY: usize = 4096;

/// One event: its sequence number in this process, when it happened, and what happened.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Its sequence number: one more than the event before it in this process.
    pub seq: u64,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    #[serde(flatten)]
    /// What happened.
    pub kind: EventKind,
    /// The event as JSON, made once by the first subscriber that needs it and shared by all.
    #[serde(skip)]
    json: std::sync::OnceLock<String>,
}

impl Event {
    /// The event as a JSON object (made once, however many subscribers read it).
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(self).unwrap_or_default())
    }
}

/// What happened. Serialised with a `type` field in kebab-case (`call-started`, ...); the fields
/// are the event's JSON, documented in the README's event table.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    /// A call began (after the checks that refuse it at once).
    CallStarted {
        agent: String,
        operation: String,
        trace_id: String,
        chain: Vec<String>,
    },
    /// A call succeeded, after `attempts` attempts.
    CallFinished {
        agent: String,
        operation: String,
        trace_id: String,
        duration_us: u64,
        attempts: u32,
    },
    /// A call failed, with its class, after its retries.
    CallFailed {
        agent: String,
        operation: String,
        trace_id: String,
        kind: ErrorKind,
        error: String,
        attempts: u32,
    },
    /// A failed attempt will be tried again after `wait_ms`.
    Retry {
        agent: String,
        operation: String,
        trace_id: String,
        attempt: u32,
        wait_ms: u64,
        error: String,
    },
    /// An agent's breaker changed state.
    Breaker {
        agent: String,
        state: BreakerState,
        reason: String,
    },
    /// A delegation was refused (not granted, a cycle, too deep).
    DelegationDenied {
        agent: String,
        callee: String,
        trace_id: String,
        reason: String,
    },
    /// A guest asked for a host capability its manifest does not grant (`host-info`).
    CapabilityDenied {
        agent: String,
        capability: String,
        trace_id: String,
        reason: String,
    },
    /// An agent was loaded for the first time.
    AgentLoaded {
        agent: String,
        version: String,
        content_hash: String,
        source: String,
        by: String,
    },
    /// A new version replaced the current one (`how` is `swap`), or an earlier one came back
    /// (`rollback`).
    AgentSwapped {
        agent: String,
        how: String,
        from_version: String,
        from_hash: String,
        version: String,
        content_hash: String,
        by: String,
    },
    /// A new version failed its checks; the current one (if any) keeps serving.
    AgentRejected {
        agent: String,
        reason: String,
        by: String,
    },
    /// An agent was unloaded.
    AgentRemoved {
        agent: String,
        version: String,
        by: String,
    },
    /// An agent acted on another's versions through `tandem:agent/control` (`detail`: what it
    /// did), in the trace of its call.
    Control {
        agent: String,
        target: String,
        trace_id: String,
        detail: String,
    },
    /// A canary was started, reweighted, promoted or aborted (`action`: `start`, `weight`,
    /// `promote`, `abort`); `reason` says why an abort happened.
    Canary {
        agent: String,
        action: String,
        version: String,
        content_hash: String,
        weight: u8,
        by: String,
        reason: Option<String>,
    },
    /// An event a guest emitted through `tandem:agent/events`.
    Guest {
        agent: String,
        trace_id: String,
        name: String,
        data: String,
    },
    /// The server began to shut down; calls in flight get `grace_ms`.
    Shutdown { grace_ms: u64 },
    /// A request was refused for its token (never shown): which endpoint, from where, and why.
    AuthFailed {
        endpoint: String,
        peer: String,
        reason: String,
    },
}

impl EventKind {
    /// The `type` the event is serialised with.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::CallStarted { .. } => "call-started",
            EventKind::CallFinished { .. } => "call-finished",
            EventKind::CallFailed { .. } => "call-failed",
            EventKind::Retry { .. } => "retry",
            EventKind::Breaker { .. } => "breaker",
            EventKind::DelegationDenied { .. } => "delegation-denied",
            EventKind::CapabilityDenied { .. } => "capability-denied",
            EventKind::AgentLoaded { .. } => "agent-loaded",
            EventKind::AgentSwapped { .. } => "agent-swapped",
            EventKind::AgentRejected { .. } => "agent-rejected",
            EventKind::AgentRemoved { .. } => "agent-removed",
            EventKind::Control { .. } => "control",
            EventKind::Canary { .. } => "canary",
            EventKind::Guest { .. } => "guest",
            EventKind::Shutdown { .. } => "shutdown",
            EventKind::AuthFailed { .. } => "auth-failed",
        }
    }
}

/// The process's event bus.
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
    subscribers: Arc<AtomicUsize>,
    seq: AtomicU64,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            sender: broadcast::channel(CAPACITY).0,
            subscribers: Arc::new(AtomicUsize::new(0)),
            seq: AtomicU64::new(1),
        }
    }
}

impl EventBus {
    /// Whether anyone listens; check it before building an event on a hot path.
    pub fn active(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    /// Sends `kind` to every subscriber (nothing happens when there is none).
    pub fn publish(&self, kind: EventKind) {
        if !self.active() {
            return;
        }
        let event = Event {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            kind,
            json: Default::default(),
        };
        // An error only means the last subscriber left meanwhile.
        let _ = self.sender.send(Arc::new(event));
    }

    /// A new subscriber, receiving every event published from now on.
    pub fn subscribe(&self) -> Subscription {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            receiver: self.sender.subscribe(),
            subscribers: self.subscribers.clone(),
        }
    }
}

/// A subscriber's end of the bus; dropping it unsubscribes.
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Event>>,
    subscribers: Arc<AtomicUsize>,
}

/// What a subscriber reads next.
#[derive(Debug)]
pub enum Received {
    /// The next event.
    Event(Arc<Event>),
    /// The subscriber fell behind and this many events were dropped for it.
    Missed(u64),
    /// The bus is gone (the host shut down).
    Closed,
}

impl Subscription {
    /// Waits for what comes next.
    pub async fn recv(&mut self) -> Received {
        match self.receiver.recv().await {
            Ok(event) => Received::Event(event),
            Err(broadcast::error::RecvError::Lagged(n)) => Received::Missed(n),
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }

    /// The next event if one is waiting, without waiting for it.
    pub fn try_recv(&mut self) -> Option<Received> {
        match self.receiver.try_recv() {
            Ok(event) => Some(Received::Event(event)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Received::Missed(n)),
            Err(broadcast::error::TryRecvError::Closed) => Some(Received::Closed),
            Err(broadcast::error::TryRecvError::Empty) => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_events_in_order_and_hear_of_what_they_missed() {
        let bus = EventBus::default();
        bus.publish(EventKind::Shutdown { grace_ms: 0 });
        assert!(!bus.active(), "nobody listens yet");
        let mut sub = bus.subscribe();
        assert!(bus.active());
        for grace_ms in 0..3 {
            bus.publish(EventKind::Shutdown { grace_ms });
        }
        for expected in 0..3 {
            let Received::Event(event) = sub.recv().await else {
                panic!("expected an event")
            };
            assert_eq!(event.kind, EventKind::Shutdown { grace_ms: expected });
            assert_eq!(event.seq, expected + 1, "the unheard event took no number");
        }
        for grace_ms in 0..CAPACITY as u64 + 5 {
            bus.publish(EventKind::Shutdown { grace_ms });
        }
        assert!(matches!(sub.recv().await, Received::Missed(5)));
        drop(sub);
        assert!(!bus.active());
        let event = Event {
            seq: 1,
            time: "t".into(),
            kind: EventKind::Shutdown { grace_ms: 7 },
            json: Default::default(),
        };
        let json: serde_json::Value = serde_json::from_str(event.json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq": 1, "time": "t", "type": "shutdown", "grace_ms": 7})
        );
        assert_eq!(json["type"], event.kind.name());
    }
}
