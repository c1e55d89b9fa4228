//! Triggers: the calls the host makes to an agent on its own, as its manifest's `[[triggers]]` say
//! (every period, at the times of a cron expression, or when an event is published). They run only
//! while [`run`] runs (`tandem serve` starts it).
//!
//! A triggered call is an ordinary call through the dispatcher (limits, breaker, retries, metrics,
//! events, audit), in a trace of its own whose id starts `trg-<agent hash>-`. Per trigger:
//! - a run is skipped, and counted, while the trigger's previous run is still going (no overlap);
//! - after `k` failures in a row the trigger waits `base * 2^(k-1)` (at most five minutes) before
//!   it runs again (`base`: an `every` trigger's period, one second otherwise); runs due meanwhile
//!   are skipped and counted;
//! - an event trigger never fires on an event of a trace one of its own agent's triggers started,
//!   so an agent cannot trigger itself in a loop; its input gets the event as `event` when the
//!   input is a JSON object.
//!
//! The table of triggers follows the registry: the current version's manifest decides, so a swap
//! that changes a trigger starts it afresh, and an agent removed takes its triggers with it.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tandem_manifest::{Trigger, When};

use crate::dispatch::{Dispatcher, Origin};
use crate::error::CallError;
use crate::events::{Event, EventKind, Received, Subscription};

/// The longest a failing trigger waits before it runs again.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long the runner sleeps when nothing is due (it wakes for changes and events anyway).
const IDLE: Duration = Duration::from_secs(3600);

/// What the API shows of one trigger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerStatus {
    /// Its name.
    pub name: String,
    /// When it fires: `every 30s`, `cron */5 * * * *`, `on-event agent-swapped where agent=linter`.
    pub when: String,
    /// The operation it calls.
    pub operation: String,
    /// Whether the host runs it (under `tandem serve`).
    pub active: bool,
    /// Runs started.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Failures in a row now.
    pub consecutive_failures: u32,
    /// Runs skipped because the previous one was still going.
    pub skipped_overlap: u64,
    /// Runs skipped while the trigger backed off after failures.
    pub skipped_backoff: u64,
    /// When the last run started (RFC 3339).
    pub last_run: Option<String>,
    /// How it ended: `ok` or the error's class.
    pub last_outcome: Option<String>,
}

/// One trigger of one agent, as the runner keeps it.
struct Entry {
    agent: String,
    trigger: Trigger,
    /// The start of its runs' trace ids; `own` is the start shared by its agent's triggers.
    prefix: String,
    own: String,
    cron: Option<croner::Cron>,
    running: AtomicBool,
    seq: AtomicU64,
    runs: AtomicU64,
    failures: AtomicU64,
    consecutive: AtomicU32,
    skipped_overlap: AtomicU64,
    skipped_backoff: AtomicU64,
    timing: Mutex<Timing>,
}

#[derive(Default)]
struct Timing {
    next_due: Option<Instant>,
    /// The cron occurrence `next_due` stands for, so that the one after is strictly later.
    occurrence: Option<chrono::DateTime<chrono::Utc>>,
    backoff_until: Option<Instant>,
    last_run: Option<SystemTime>,
    last_outcome: Option<String>,
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Entry {
    fn new(agent: &str, trigger: Trigger) -> Entry {
        let own = format!("trg-{:016x}-", fnv(agent));
        let prefix = format!("{own}{:08x}-", fnv(&trigger.name) as u32);
        let cron = match &trigger.when {
            When::Cron(expression) => croner::Cron::from_str(expression).ok(),
            _ => None,
        };
        let entry = Entry {
            agent: agent.to_string(),
            trigger,
            prefix,
            own,
            cron,
            running: AtomicBool::new(false),
            seq: AtomicU64::new(1),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            skipped_overlap: AtomicU64::new(0),
            skipped_backoff: AtomicU64::new(0),
            timing: Mutex::new(Timing::default()),
        };
        let (due, occurrence) = entry.following(Instant::now(), None);
        let mut timing = entry.timing();
        (timing.next_due, timing.occurrence) = (due, occurrence);
        drop(timing);
        entry
    }

    fn timing(&self) -> std::sync::MutexGuard<'_, Timing> {
        self.timing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When a scheduled trigger is due next, after `now` (a cron trigger: strictly after the
    /// occurrence `after`, with the occurrence it will stand for).
    fn following(
        &self,
        now: Instant,
        after: Option<chrono::DateTime<chrono::Utc>>,
    ) -> (Option<Instant>, Option<chrono::DateTime<chrono::Utc>>) {
        match &self.trigger.when {
            When::Every(period) => (Some(now + *period), None),
            When::Cron(_) => {
                let wall = chrono::Utc::now();
                let from = after.map_or(wall, |after| after.max(wall));
                let Some(next) = self
                    .cron
                    .as_ref()
                    .and_then(|cron| cron.find_next_occurrence(&from, false).ok())
                else {
                    return (None, None);
                };
                let wait = (next - wall).to_std().unwrap_or_default();
                (Some(now + wait), Some(next))
            }
            When::OnEvent { .. } => (None, None),
        }
    }

    /// The wait after `failures` failures in a row.
    fn backoff(&self, failures: u32) -> Duration {
        let base = match self.trigger.when {
            When::Every(period) => period,
            _ => Duration::from_secs(1),
        };
        base.saturating_mul(1u32 << failures.saturating_sub(1).min(20))
            .min(MAX_BACKOFF)
    }

    fn status(&self, active: bool) -> TriggerStatus {
        let timing = self.timing();
        TriggerStatus {
            name: self.trigger.name.clone(),
            when: self.trigger.when.to_string(),
            operation: self.trigger.operation.clone(),
            active,
            runs: self.runs.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive.load(Ordering::Relaxed),
            skipped_overlap: self.skipped_overlap.load(Ordering::Relaxed),
            skipped_backoff: self.skipped_backoff.load(Ordering::Relaxed),
            last_run: timing
                .last_run
                .map(|t| humantime::format_rfc3339_millis(t).to_string()),
            last_outcome: timing.last_outcome.clone(),
        }
    }

    /// Whether `event` fires this (event) trigger; the event's JSON, with a guest's data parsed,
    /// when it does.
    fn fired_by(&self, event: &Event) -> Option<Value> {
        let When::OnEvent {
            event: name,
            filter,
        } = &self.trigger.when
        else {
            return None;
        };
        let named = match &event.kind {
            EventKind::Guest { name: guest, .. } => guest == name,
            kind => kind.name() == name,
        };
        if !named {
            return None;
        }
        let mut payload: Value = serde_json::from_str(event.json()).ok()?;
        if payload["trace_id"]
            .as_str()
            .is_some_and(|trace| trace.starts_with(&self.own))
        {
            return None;
        }
        if let Some(data) = payload.get("data").and_then(Value::as_str)
            && let Ok(parsed) = serde_json::from_str::<Value>(data)
        {
            payload["data"] = parsed;
        }
        let field = |key: &str| -> Option<&Value> {
            payload
                .get("data")
                .and_then(|data| data.get(key))
                .filter(|_| matches!(event.kind, EventKind::Guest { .. }))
                .or_else(|| payload.get(key))
        };
        let all_match = filter.iter().all(|(key, wanted)| match field(key) {
            Some(Value::String(text)) => text == wanted,
            Some(Value::Number(n)) => n.to_string() == *wanted,
            Some(Value::Bool(b)) => b.to_string() == *wanted,
            _ => false,
        });
        all_match.then_some(payload)
    }
}

/// Every loaded agent's triggers with their figures.
#[derive(Default)]
pub struct TriggerTable {
    entries: Mutex<BTreeMap<(String, String), Arc<Entry>>>,
    /// The registry generation the table was last made to follow.
    synced: AtomicU64,
    /// Whether the runner runs.
    active: AtomicBool,
}

impl TriggerTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The triggers of agent `id`'s current version, with their figures (none run unless the
    /// runner does).
    pub fn of(&self, dispatcher: &Dispatcher, id: &str) -> Vec<TriggerStatus> {
        let Ok(agent) = dispatcher.registry().get(id) else {
            return Vec::new();
        };
        let active = self.active.load(Ordering::Relaxed);
        let entries = self.lock();
        agent
            .policy()
            .triggers
            .iter()
            .map(|trigger| {
                match entries
                    .get(&(id.to_string(), trigger.name.clone()))
                    .filter(|e| e.trigger == *trigger)
                {
                    Some(entry) => entry.status(active),
                    None => Entry::new(id, trigger.clone()).status(false),
                }
            })
            .collect()
    }

    /// Makes the table follow the registry's current versions.
    fn sync(&self, dispatcher: &Dispatcher) {
        let generation = dispatcher.registry().generation();
        if self.synced.swap(generation, Ordering::Relaxed) == generation && generation != 0 {
            return;
        }
        let mut entries = self.lock();
        let mut kept = BTreeSet::new();
        for agent in dispatcher.registry().all() {
            for trigger in &agent.policy().triggers {
                let key = (agent.id().to_string(), trigger.name.clone());
                if entries.get(&key).is_none_or(|e| e.trigger != *trigger) {
                    entries.insert(
                        key.clone(),
                        Arc::new(Entry::new(agent.id(), trigger.clone())),
                    );
                }
                kept.insert(key);
            }
        }
        entries.retain(|key, _| kept.contains(key));
    }

    fn all(&self) -> Vec<Arc<Entry>> {
        self.lock().values().cloned().collect()
    }
}

/// Runs the triggers of every loaded agent until the future is dropped.
pub async fn run(dispatcher: Arc<Dispatcher>, table: Arc<TriggerTable>) {
    table.active.store(true, Ordering::Relaxed);
    let _inactive = Inactive(&table);
    let mut events: Option<Subscription> = None;
    loop {
        table.sync(&dispatcher);
        let entries = table.all();
        let wants_events = entries
            .iter()
            .any(|e| matches!(e.trigger.when, When::OnEvent { .. }));
        match (wants_events, events.is_some()) {
            (true, false) => events = Some(dispatcher.events().subscribe()),
            (false, true) => events = None,
            _ => {}
        }
        let now = Instant::now();
        let mut next_wake = now + IDLE;
        for entry in &entries {
            let due = {
                let mut timing = entry.timing();
                match timing.next_due {
                    Some(due) if due <= now => {
                        (timing.next_due, timing.occurrence) = match entry.trigger.when {
                            // No drift: the next run is a period after this one was due.
                            When::Every(period) if due + period > now => (Some(due + period), None),
                            _ => entry.following(now, timing.occurrence),
                        };
                        true
                    }
                    _ => false,
                }
            };
            if due {
                fire(&dispatcher, entry, None);
            }
            if let Some(due) = entry.timing().next_due {
                next_wake = next_wake.min(due);
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until(next_wake.into()) => {}
            () = dispatcher.registry().next_change() => {}
            received = next_event(&mut events) => match received {
                Received::Event(event) => {
                    on_event(&dispatcher, &entries, &event);
                    // Take what else is waiting before looking at the schedule again.
                    while let Some(Received::Event(event)) = events.as_mut().and_then(Subscription::try_recv) {
                        on_event(&dispatcher, &entries, &event);
                    }
                }
                Received::Missed(n) => {
                    tracing::warn!(missed = n, "triggers fell behind the event stream; events were lost to them");
                }
                Received::Closed => events = None,
            },
        }
    }
}

/// Marks the table inactive when the runner ends.
struct Inactive<'a>(&'a TriggerTable);

impl Drop for Inactive<'_> {
    fn drop(&mut self) {
        self.0.active.store(false, Ordering::Relaxed);
    }
}

async fn next_event(events: &mut Option<Subscription>) -> Received {
    match events {
        Some(subscription) => subscription.recv().await,
        None => std::future::pending().await,
    }
}

fn on_event(dispatcher: &Arc<Dispatcher>, entries: &[Arc<Entry>], event: &Event) {
    for entry in entries {
        if let Some(payload) = entry.fired_by(event) {
            fire(dispatcher, entry, Some(payload));
        }
    }
}

/// Starts a run of `entry` (with the event that fired it), unless its previous run still goes or
/// it backs off after failures.
fn fire(dispatcher: &Arc<Dispatcher>, entry: &Arc<Entry>, event: Option<Value>) {
    let now = Instant::now();
    if entry
        .timing()
        .backoff_until
        .is_some_and(|until| now < until)
    {
        entry.skipped_backoff.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            agent = entry.agent,
            trigger = entry.trigger.name,
            "trigger backing off: run skipped"
        );
        return;
    }
    if entry.running.swap(true, Ordering::AcqRel) {
        entry.skipped_overlap.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            agent = entry.agent,
            trigger = entry.trigger.name,
            "trigger still running: run skipped"
        );
        return;
    }
    let input = match event {
        Some(event) => with_event(&entry.trigger.input, event),
        None => entry.trigger.input.clone(),
    };
    let trace_id = format!(
        "{}{}",
        entry.prefix,
        entry.seq.fetch_add(1, Ordering::Relaxed)
    );
    entry.runs.fetch_add(1, Ordering::Relaxed);
    entry.timing().last_run = Some(SystemTime::now());
    let (dispatcher, entry) = (dispatcher.clone(), entry.clone());
    tokio::spawn(async move {
        let origin = Origin {
            trace_id: Some(trace_id),
            ..Origin::default()
        };
        let result = dispatcher
            .call(&entry.agent, &entry.trigger.operation, input, origin)
            .await;
        finished(&entry, result.as_ref().map(|_| ()));
    });
}

/// Counts the end of a run and sets the backoff after a failure.
fn finished(entry: &Entry, result: Result<(), &CallError>) {
    let mut timing = entry.timing();
    match result {
        Ok(()) => {
            entry.consecutive.store(0, Ordering::Relaxed);
            timing.backoff_until = None;
            timing.last_outcome = Some("ok".into());
        }
        Err(error) => {
            entry.failures.fetch_add(1, Ordering::Relaxed);
            let failures = entry.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
            let wait = entry.backoff(failures);
            timing.backoff_until = Some(Instant::now() + wait);
            timing.last_outcome = Some(error.kind().as_str().to_string());
            tracing::warn!(agent = entry.agent, trigger = entry.trigger.name, failures, ?wait, %error, "triggered call failed");
        }
    }
    drop(timing);
    entry.running.store(false, Ordering::Release);
}

/// The trigger's input with the event that fired it as `event`, when the input is an object.
fn with_event(input: &str, event: Value) -> String {
    match serde_json::from_str::<Value>(input) {
        Ok(Value::Object(mut object)) => {
            object.entry("event").or_insert(event);
            Value::Object(object).to_string()
        }
        _ => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(when: When) -> Entry {
        Entry::new(
            "monitor",
            Trigger {
                name: "t".into(),
                when,
                operation: "sample".into(),
                input: "{}".into(),
            },
        )
    }

    #[test]
    fn failing_triggers_back_off_exponentially_up_to_a_bound() {
        let every = entry(When::Every(Duration::from_millis(200)));
        assert_eq!(every.backoff(1), Duration::from_millis(200));
        assert_eq!(every.backoff(3), Duration::from_millis(800));
        assert_eq!(every.backoff(40), MAX_BACKOFF);
        let events = entry(When::OnEvent {
            event: "x".into(),
            filter: vec![],
        });
        assert_eq!(events.backoff(2), Duration::from_secs(2));
    }

    #[test]
    fn cron_triggers_are_due_at_their_next_occurrence() {
        let cron = entry(When::Cron("* * * * * *".into()));
        let now = Instant::now();
        let due = cron.timing().next_due.unwrap();
        assert!(due <= now + Duration::from_millis(1_100), "every second");
        let hourly = entry(When::Cron("0 0 * * * *".into()));
        let due = hourly.timing().next_due.unwrap();
        assert!(due <= now + Duration::from_secs(3_601));
    }

    #[test]
    fn event_inputs_carry_the_event_when_they_are_objects() {
        let event = serde_json::json!({"type": "breaker"});
        assert_eq!(
            with_event(r#"{"a":1}"#, event.clone()),
            r#"{"a":1,"event":{"type":"breaker"}}"#
        );
        assert_eq!(with_event("[1]", event), "[1]");
    }
}
