//! `monitor`: watches the host from its own figures (`host-info`). Each `sample` (run by a
//! trigger) turns the host's cumulative figures into per-period points ([`record`]), judges them
//! with the anomaly detectors ([`detect`]), the SLOs' burn rates ([`slo`]) and the threshold rules
//! of its [`config`], and publishes `alert` events as alerts fire and resolve ([`alerts`]).
//!
//! Operations: `sample`, `status`, `figures` (an agent's series around a time, for DIRECTOR's
//! `incident`), `configure`.

pub mod alerts;
pub mod config;
pub mod detect;
pub mod record;
pub mod slo;

use std::collections::{BTreeMap, BTreeSet};

use guest_support::time::{duration_ms, now_ms};
use serde::Deserialize;
use serde_json::{Value, json};
use tandem_sdk::host_info::{self, Figures, Load};
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, events, state, to_json};

use alerts::{Alerts, Condition};
use config::Config;
use record::{AgentRecord, Period, SloPoint};

/// This agent's id: it does not watch itself unless told to.
const ME: &str = "monitor";

/// The state key of an agent's record.
fn record_key(agent: &str) -> String {
    format!("agent/{agent}")
}

/// The configuration given, or the stored one, or the defaults; checked.
fn config(given: Option<Config>) -> Result<Config, AgentError> {
    let config = match given {
        Some(config) => config,
        None => state::get_json("config")?.unwrap_or_default(),
    };
    config.check()?;
    Ok(config)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SampleInput {
    config: Option<Config>,
    /// The event that fired a trigger, if one did (not used).
    #[serde(default, rename = "event")]
    _event: Option<serde::de::IgnoredAny>,
}

/// What one agent's period raised: anomalies, rule breaches, burning SLOs.
fn judge_agent(
    config: &Config,
    agent: &str,
    record: &mut AgentRecord,
    period: &Period,
    now: f64,
    conditions: &mut Vec<Condition>,
    judged: &mut BTreeSet<String>,
) -> Result<Value, AgentError> {
    let detectors = &config.detectors;
    let mut verdicts = serde_json::Map::new();
    for metric in &detectors.metrics {
        let Some(x) = period.metric(metric) else {
            continue;
        };
        let history = record
            .series
            .get(metric)
            .map(|r| r.values())
            .unwrap_or_default();
        let ewma_state = record.ewma.entry(metric.clone()).or_default();
        let ewma = detectors
            .ewma
            .as_ref()
            .and_then(|p| ewma_state.judge(x, p, detectors.floor(metric, ewma_state.mean)));
        let mad = detectors
            .mad
            .as_ref()
            .and_then(|p| detect::mad(&history, x, p, |m| detectors.floor(metric, m)));
        let flagged: Vec<&str> = [("ewma", &ewma), ("mad", &mad)]
            .iter()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| v.anomalous))
            .map(|(name, _)| *name)
            .collect();
        if let Some(p) = &detectors.ewma {
            ewma_state.update(x, !flagged.is_empty(), p);
        }
        let key = format!("anomaly/{agent}/{metric}");
        judged.insert(key.clone());
        let details = json!({"ewma": ewma, "mad": mad});
        if !flagged.is_empty() {
            let baseline = ewma.as_ref().or(mad.as_ref()).map_or(0.0, |v| v.baseline);
            conditions.push(Condition {
                key,
                kind: "anomaly",
                name: flagged.join("+"),
                target: agent.to_string(),
                metric: metric.clone(),
                value: x,
                threshold: baseline,
                severity: detectors.severity.clone(),
                for_ms: 0.0,
                details: details.clone(),
            });
        }
        verdicts.insert(metric.clone(), details);
    }
    for metric in config::METRICS {
        if let Some(x) = period.metric(metric) {
            record
                .series
                .entry(metric.to_string())
                .or_default()
                .push(now, x, config.ring);
        }
    }
    for rule in config
        .rules
        .iter()
        .filter(|r| r.agent == "*" || r.agent == agent)
    {
        let Some(value) = period.metric(&rule.metric) else {
            continue;
        };
        let key = format!("rule/{}/{agent}/{}", rule.name, rule.metric);
        judged.insert(key.clone());
        if rule.op.holds(value, rule.threshold) {
            conditions.push(rule_condition(rule, key, agent, value)?);
        }
    }
    let mut slos = Vec::new();
    for slo in config.slos.iter().filter(|s| s.agent == agent) {
        let slow = match (&slo.latency, period.latency_ms) {
            (Some(l), Some(ms)) if ms > l.threshold_ms => period.calls,
            _ => 0,
        };
        while record.slo.len() >= config.slo_ring {
            record.slo.pop_front();
        }
        record.slo.push_back(SloPoint {
            at: now,
            calls: period.calls,
            bad: period.bad,
            slow,
            latency_ms: period.latency_ms.unwrap_or(0.0),
        });
        for sli in slo::status(slo, &record.slo, now)? {
            for w in &sli.windows {
                let key = format!("slo-burn/{agent}/{}/{}-{}", sli.sli, w.long_ms, w.short_ms);
                judged.insert(key.clone());
                if w.burning {
                    conditions.push(Condition {
                        key,
                        kind: "slo-burn",
                        name: format!("{} {}", sli.sli, sli.objective),
                        target: agent.to_string(),
                        metric: sli.sli.to_string(),
                        value: w.long_burn.min(w.short_burn),
                        threshold: w.burn_rate,
                        severity: w.severity.clone(),
                        for_ms: 0.0,
                        details: json!({"long_ms": w.long_ms, "short_ms": w.short_ms,
                            "long_burn": w.long_burn, "short_burn": w.short_burn,
                            "budget_remaining": sli.budget_remaining}),
                    });
                }
            }
            slos.push(sli);
        }
    }
    Ok(
        json!({"latency_ms": period.latency_ms, "error_rate": period.error_rate,
              "calls_per_s": period.calls_per_s, "calls": period.calls,
              "detectors": verdicts, "slos": slos}),
    )
}

fn rule_condition(
    rule: &config::Rule,
    key: String,
    target: &str,
    value: f64,
) -> Result<Condition, AgentError> {
    Ok(Condition {
        key,
        kind: "rule",
        name: rule.name.clone(),
        target: target.to_string(),
        metric: rule.metric.clone(),
        value,
        threshold: rule.threshold,
        severity: rule.severity.clone(),
        for_ms: match &rule.for_ {
            Some(f) => duration_ms(f, "for")?,
            None => 0.0,
        },
        details: Value::Null,
    })
}

/// The host rules' conditions from the load.
fn judge_host(
    config: &Config,
    load: &Load,
    conditions: &mut Vec<Condition>,
    judged: &mut BTreeSet<String>,
) -> Result<(), AgentError> {
    for rule in config.rules.iter().filter(|r| r.agent == "host") {
        let value = match rule.metric.as_str() {
            "running" => load.running,
            "queued" => load.queued,
            _ => load.instances_live,
        } as f64;
        let key = format!("rule/{}/host/{}", rule.name, rule.metric);
        judged.insert(key.clone());
        if rule.op.holds(value, rule.threshold) {
            conditions.push(rule_condition(rule, key, "host", value)?);
        }
    }
    Ok(())
}

fn sample(input: SampleInput) -> Result<Json, AgentError> {
    let config = config(input.config)?;
    let now = now_ms();
    let figures = host_info::figures(None)?;
    let load = host_info::load()?;
    let mut by_agent: BTreeMap<&str, Vec<&Figures>> = BTreeMap::new();
    for f in &figures {
        let watched = if config.agents.is_empty() {
            f.agent != ME
        } else {
            config.agents.contains(&f.agent)
        };
        if watched {
            by_agent.entry(f.agent.as_str()).or_default().push(f);
        }
    }
    let mut alerts: Alerts = state::get_json("alerts")?.unwrap_or_default();
    let mut conditions = Vec::new();
    let mut judged = BTreeSet::new();
    let mut points = serde_json::Map::new();
    for (agent, figs) in by_agent.iter().take(config::MAX_AGENTS) {
        let key = record_key(agent);
        let mut record: AgentRecord = state::get_json(&key)?.unwrap_or_default();
        if let Some(period) = record.advance(now, figs) {
            let seen = judge_agent(
                &config,
                agent,
                &mut record,
                &period,
                now,
                &mut conditions,
                &mut judged,
            )?;
            points.insert(agent.to_string(), seen);
        }
        state::set_json(&key, &record)?;
    }
    judge_host(&config, &load, &mut conditions, &mut judged)?;
    let transitions = alerts.apply(now, conditions, &judged);
    for t in &transitions {
        events::emit("alert", t);
    }
    state::set_json("alerts", &alerts)?;
    to_json(&json!({
        "at_ms": now,
        "agents": by_agent.keys().collect::<Vec<_>>(),
        "load": load,
        "points": points,
        "transitions": transitions,
        "firing": alerts.active.values().filter(|a| a.status == "firing").count(),
        "pending": alerts.active.values().filter(|a| a.status == "pending").count(),
    }))
}

fn status() -> Result<Json, AgentError> {
    let config = config(None)?;
    let alerts: Alerts = state::get_json("alerts")?.unwrap_or_default();
    let now = now_ms();
    let mut agents = serde_json::Map::new();
    for key in state::keys("agent/")? {
        let record: AgentRecord = state::get_json(&key)?.unwrap_or_default();
        let agent = key.trim_start_matches("agent/").to_string();
        let last: BTreeMap<&String, Option<f64>> =
            record.series.iter().map(|(m, r)| (m, r.last())).collect();
        let mut slos = Vec::new();
        for slo in config.slos.iter().filter(|s| s.agent == agent) {
            slos.extend(slo::status(slo, &record.slo, now)?);
        }
        agents.insert(
            agent,
            json!({"sampled_ms": record.at, "last": last, "baselines": record.ewma, "slos": slos}),
        );
    }
    to_json(&json!({
        "alerts": alerts.active.iter().map(|(k, a)| json!({"alert": k, "details": a})).collect::<Vec<_>>(),
        "history": alerts.history,
        "agents": agents,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FiguresInput {
    agent: String,
    /// Points this long before (and after) `around-ms` (default 15 minutes).
    window: Option<Value>,
    /// The moment of interest, ms since 1970 (default now).
    around_ms: Option<f64>,
}

fn figures_op(input: FiguresInput) -> Result<Json, AgentError> {
    let window = match &input.window {
        Some(w) => duration_ms(w, "window")?,
        None => 15.0 * 60_000.0,
    };
    let around = input.around_ms.unwrap_or_else(now_ms);
    let record: AgentRecord = state::get_json(&record_key(&input.agent))?.ok_or_else(|| {
        AgentError::invalid(format!(
            "no figures of `{}` yet: it is not watched, or no sample has run since it loaded",
            input.agent
        ))
    })?;
    let series: BTreeMap<&String, Vec<(f64, f64)>> = record
        .series
        .iter()
        .map(|(metric, ring)| {
            let points = ring
                .0
                .iter()
                .filter(|(t, _)| (t - around).abs() <= window)
                .copied()
                .collect();
            (metric, points)
        })
        .collect();
    let alerts: Alerts = state::get_json("alerts")?.unwrap_or_default();
    let active: Vec<&alerts::Active> = alerts
        .active
        .values()
        .filter(|a| a.target == input.agent)
        .collect();
    to_json(&json!({
        "agent": input.agent,
        "around_ms": around,
        "window_ms": window,
        "sampled_ms": record.at,
        "series": series,
        "baselines": record.ewma,
        "alerts": active,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigureInput {
    config: Config,
}

struct Monitor;

impl Agent for Monitor {
    fn describe() -> AgentInfo {
        AgentInfo::new("monitor", "Watches the host's figures: bounded series in durable state, EWMA and median/MAD anomalies, SLO burn-rate alerts, threshold rules; alerts as events")
            .operation(Operation::new("sample", "Reads the host's figures, adds a point per series, judges them and publishes `alert` events (run by a trigger)")
                .example(json!({"config": {"rules": [{"name": "slow", "metric": "latency-ms", "op": ">", "threshold": 50, "for": "30s", "severity": "page"}],
                                           "slos": [{"agent": "linter", "availability": 0.999, "latency": {"threshold-ms": 500, "objective": 0.99}}]}})))
            .operation(Operation::new("status", "Active alerts, recent transitions, each agent's last points, baselines and SLO status").example(json!({})))
            .operation(Operation::new("figures", "One agent's series around a moment, its baselines and its active alerts").example(json!({"agent": "linter", "window": "5m"})))
            .operation(Operation::new("configure", "Stores the configuration `sample` uses when its input has none").example(json!({"config": {"ring": 720}})))
            .capability("host-info")
            .capability("state")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "sample" => sample(task.input()?),
            "status" => status(),
            "figures" => figures_op(task.input()?),
            "configure" => {
                let input: ConfigureInput = task.input()?;
                input.config.check()?;
                state::set_json("config", &input.config)?;
                to_json(&json!({"config": input.config}))
            }
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Monitor);
