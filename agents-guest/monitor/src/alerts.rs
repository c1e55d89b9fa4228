//! Alerts: a condition (a threshold rule, an anomaly, an SLO burning) seen at a sample goes
//! pending, fires once it has held for its `for` duration, and resolves when it no longer holds.
//! Firing and resolving are each published once as an `alert` event (deduplicated: a firing
//! alert is not published again while it fires); the state key `alerts` keeps the active ones and
//! the last [`HISTORY`] transitions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Transitions kept for `status`.
pub const HISTORY: usize = 100;

/// What one sample saw hold.
#[derive(Debug, Clone)]
pub struct Condition {
    /// Identifies the alert across samples: `kind/name/target/metric`.
    pub key: String,
    /// `rule`, `anomaly` or `slo-burn`.
    pub kind: &'static str,
    /// The rule's name, the detectors that flagged, or the SLI and windows.
    pub name: String,
    /// The agent it is about (`host` for the host's load).
    pub target: String,
    pub metric: String,
    pub value: f64,
    pub threshold: f64,
    pub severity: String,
    /// How long it must hold before firing, in ms.
    pub for_ms: f64,
    /// More about it (the detectors' scores, the burn rates).
    pub details: Value,
}

/// An alert that is pending or firing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Active {
    pub kind: String,
    pub name: String,
    pub target: String,
    pub metric: String,
    pub severity: String,
    /// `pending` or `firing`.
    pub status: String,
    /// When the condition was first seen (ms since 1970).
    pub since: f64,
    pub fired_at: Option<f64>,
    pub value: f64,
    pub threshold: f64,
    pub details: Value,
}

/// The `alerts` state key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Alerts {
    pub active: BTreeMap<String, Active>,
    pub history: VecDeque<Value>,
}

impl Alerts {
    /// Applies one sample's `conditions` at `now`, for the keys this sample `judged` (a key it
    /// could not judge, e.g. a latency rule in a period without calls, keeps its state). Returns
    /// the `alert` events to publish, fired then resolved.
    pub fn apply(
        &mut self,
        now: f64,
        conditions: Vec<Condition>,
        judged: &BTreeSet<String>,
    ) -> Vec<Value> {
        let mut events = Vec::new();
        let holding: BTreeSet<String> = conditions.iter().map(|c| c.key.clone()).collect();
        for c in conditions {
            let entry = self.active.entry(c.key.clone()).or_insert_with(|| Active {
                kind: c.kind.to_string(),
                name: c.name.clone(),
                target: c.target.clone(),
                metric: c.metric.clone(),
                severity: c.severity.clone(),
                status: "pending".into(),
                since: now,
                fired_at: None,
                value: c.value,
                threshold: c.threshold,
                details: Value::Null,
            });
            entry.value = c.value;
            entry.details = c.details;
            if entry.status == "pending" && now - entry.since >= c.for_ms {
                entry.status = "firing".into();
                entry.fired_at = Some(now);
                events.push(event(&c.key, entry, "firing", now));
            }
        }
        let ended: Vec<String> = self
            .active
            .keys()
            .filter(|k| judged.contains(*k) && !holding.contains(*k))
            .cloned()
            .collect();
        for key in ended {
            let alert = self.active.remove(&key).expect("listed");
            if alert.status == "firing" {
                events.push(event(&key, &alert, "resolved", now));
            }
        }
        for e in &events {
            while self.history.len() >= HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(e.clone());
        }
        events
    }
}

/// The `alert` event of `alert` going to `status`. The watched agent is `target` (not `agent`,
/// which the host's event already uses for MONITOR itself, so a trigger can filter on both).
fn event(key: &str, alert: &Active, status: &str, now: f64) -> Value {
    serde_json::json!({
        "status": status,
        "alert": key,
        "kind": alert.kind,
        "name": alert.name,
        "target": alert.target,
        "metric": alert.metric,
        "severity": alert.severity,
        "value": alert.value,
        "threshold": alert.threshold,
        "since_ms": alert.since,
        "at_ms": now,
        "details": alert.details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(for_ms: f64) -> Condition {
        Condition {
            key: "rule/slow/a/latency-ms".into(),
            kind: "rule",
            name: "slow".into(),
            target: "a".into(),
            metric: "latency-ms".into(),
            value: 80.0,
            threshold: 50.0,
            severity: "page".into(),
            for_ms,
            details: Value::Null,
        }
    }

    #[test]
    fn pending_firing_deduplicated_resolved() {
        let mut alerts = Alerts::default();
        let judged: BTreeSet<String> = ["rule/slow/a/latency-ms".to_string()].into();
        assert!(
            alerts
                .apply(0.0, vec![condition(2000.0)], &judged)
                .is_empty()
        );
        assert_eq!(alerts.active.values().next().unwrap().status, "pending");
        let fired = alerts.apply(2000.0, vec![condition(2000.0)], &judged);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0]["status"], "firing");
        assert_eq!(fired[0]["target"], "a");
        // Still holding: nothing new.
        assert!(
            alerts
                .apply(3000.0, vec![condition(2000.0)], &judged)
                .is_empty()
        );
        // Not judged this time (no calls): kept as it is.
        assert!(alerts.apply(4000.0, vec![], &BTreeSet::new()).is_empty());
        let resolved = alerts.apply(5000.0, vec![], &judged);
        assert_eq!(resolved[0]["status"], "resolved");
        assert!(alerts.active.is_empty());
        assert_eq!(alerts.history.len(), 2);
        // A pending alert that stops holding goes away without an event.
        alerts.apply(6000.0, vec![condition(9000.0)], &judged);
        assert!(alerts.apply(7000.0, vec![], &judged).is_empty());
        assert!(alerts.active.is_empty());
    }
}
