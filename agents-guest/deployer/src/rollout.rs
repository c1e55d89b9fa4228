//! The two ways a version goes out, each a timeline of steps with the figures seen at each:
//! - **canary**: served beside the current version to the first step's share of the traces
//!   (`start-canary`), widened step by step (`set-weight`) while the canary's error rate and p99
//!   stay within the bounds, promoted at 100 %; aborted (its traces back to the current version)
//!   the moment a bound is crossed. The host's own guard rails may abort it first: that is
//!   reported as such.
//! - **blue-green**: loaded beside the current version with no traffic (a canary at weight 0: the
//!   host compiles and health-probes it), switched to at once (`promote`), watched, and rolled back
//!   to the version before when a bound is crossed.
//!
//! Every step is a `deploy-step` event; every action is the host's own `control` audit line.

use guest_support::time::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tandem_sdk::{AgentError, control, events};

use crate::watch::{self, Bounds, Counts, Seen};

/// How often the figures are read unless the request says.
const DEFAULT_POLL_MS: u64 = 250;

/// One step of a deploy.
#[derive(Debug, Serialize)]
pub struct Step {
    /// Milliseconds since the deploy began.
    pub at_ms: f64,
    /// `start`, `widen`, `watched`, `promote`, `switch`, `abort`, `aborted-by-host`, `rollback`.
    pub step: String,
    /// The canary's share of the traces after the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    /// The figures of the new version since the deploy began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A deploy's timeline, each step published as it happens.
pub struct Timeline {
    agent: String,
    started: f64,
    pub steps: Vec<Step>,
}

impl Timeline {
    pub fn new(agent: &str) -> Timeline {
        Timeline {
            agent: agent.to_string(),
            started: now_ms(),
            steps: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        step: &str,
        weight: Option<u8>,
        seen: Option<Seen>,
        note: Option<String>,
    ) {
        let step = Step {
            at_ms: now_ms() - self.started,
            step: step.to_string(),
            weight,
            seen,
            note,
        };
        events::emit("deploy-step", &json!({"agent": self.agent, "step": step}));
        self.steps.push(step);
    }

    pub fn elapsed_ms(&self) -> f64 {
        now_ms() - self.started
    }
}

/// `control`'s refusal, with the grant it needs.
pub fn explain(agent: &str, error: AgentError) -> AgentError {
    match error {
        AgentError::Denied(why) => AgentError::Denied(format!(
            "deploying `{agent}` needs `control = [\"{agent}\"]` in DEPLOYER's manifest: {why}"
        )),
        other => other,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CanaryInput {
    pub agent: String,
    /// Hex SHA-256 of a version the host holds.
    pub content_hash: String,
    /// The canary's share of the traces at each step, rising, the last 100 (default 5, 25, 50, 100).
    #[serde(default = "default_steps")]
    pub steps: Vec<u8>,
    /// How long each step is watched (default 30 s).
    pub step_duration: Option<Value>,
    /// How often the figures are read (default 250 ms).
    pub poll: Option<Value>,
    #[serde(default)]
    pub bounds: Bounds,
}

fn default_steps() -> Vec<u8> {
    vec![5, 25, 50, 100]
}

/// How a deploy ended.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// `promoted`, `kept`, `rolled-back`, `aborted-by-host`.
    pub outcome: &'static str,
    pub reason: String,
    pub from: Option<String>,
    pub to: String,
}

/// Why a watch stopped before its time.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// A bound was crossed.
    Crossed,
    /// The host ended the canary (its guard rails).
    Ended,
}

/// Watches `version` for `duration` ms from `base`: the first crossed bound, or the host ending the
/// canary (when `canary` is true), stops it early.
fn watch_for(
    agent: &str,
    version: &str,
    base: Counts,
    bounds: &Bounds,
    duration: u64,
    poll: u64,
    canary: bool,
) -> Result<(Seen, Option<Stop>), AgentError> {
    let end = now_ms() + duration as f64;
    loop {
        let seen = watch::judge(base, watch::counts(agent, version)?, bounds);
        if seen.crossed.is_some() {
            return Ok((seen, Some(Stop::Crossed)));
        }
        if canary
            && control::canary(agent)
                .map_err(|e| explain(agent, e))?
                .is_none()
        {
            return Ok((seen, Some(Stop::Ended)));
        }
        let left = end - now_ms();
        if left <= 0.0 {
            return Ok((seen, None));
        }
        watch::sleep(poll.min(left.ceil() as u64));
    }
}

/// The version serving now.
fn current(agent: &str) -> Result<Option<String>, AgentError> {
    Ok(control::versions(agent)
        .map_err(|e| explain(agent, e))?
        .into_iter()
        .find(|v| v.current)
        .map(|v| v.version))
}

pub fn canary(input: CanaryInput, time_left_ms: u64) -> Result<(Outcome, Timeline), AgentError> {
    input.bounds.check()?;
    let steps = &input.steps;
    if steps.is_empty()
        || steps.windows(2).any(|w| w[0] >= w[1])
        || steps[0] == 0
        || *steps.last().unwrap() != 100
    {
        return Err(AgentError::invalid(format!(
            "`steps` rise from above 0 and end at 100, e.g. [5, 25, 50, 100]; not {steps:?}"
        )));
    }
    let step_ms = watch::ms(input.step_duration.as_ref(), "step-duration", 30_000)?;
    let poll = watch::ms(input.poll.as_ref(), "poll", DEFAULT_POLL_MS)?;
    let needed = step_ms * steps.len() as u64;
    if needed + 2_000 > time_left_ms {
        return Err(AgentError::invalid(format!(
            "{} steps of {step_ms} ms take {needed} ms; this call has {time_left_ms} ms (DEPLOYER's manifest timeout)",
            steps.len()
        )));
    }
    let agent = input.agent.as_str();
    let from = current(agent)?;
    let timeline = Timeline::new(agent);
    let canary = control::start_canary(agent, &input.content_hash, steps[0])
        .map_err(|e| explain(agent, e))?;
    // From here on, a failure of this call (a host call refused, the figures unreadable) ends the
    // canary before it is passed on: a deploy never leaves a canary behind on an error of its own.
    steps_of_canary(&input, from, canary.version, timeline, step_ms, poll).inspect_err(|_| {
        let _ = control::abort(agent);
    })
}

/// The canary's steps, once it serves at the first weight.
fn steps_of_canary(
    input: &CanaryInput,
    from: Option<String>,
    to: String,
    mut timeline: Timeline,
    step_ms: u64,
    poll: u64,
) -> Result<(Outcome, Timeline), AgentError> {
    let (agent, steps) = (input.agent.as_str(), &input.steps);
    let base = watch::counts(agent, &to)?;
    timeline.push(
        "start",
        Some(steps[0]),
        None,
        Some(format!("{to} beside {}", from.as_deref().unwrap_or("?"))),
    );
    let end = |outcome, reason: String| Outcome {
        outcome,
        reason,
        from: from.clone(),
        to: to.clone(),
    };
    for (i, &weight) in steps.iter().enumerate() {
        if i > 0 {
            if let Err(e) = control::set_weight(agent, weight) {
                let seen = watch::judge(base, watch::counts(agent, &to)?, &input.bounds);
                timeline.push("aborted-by-host", None, Some(seen), Some(format!("{e:?}")));
                return Ok((
                    end(
                        "aborted-by-host",
                        "the host ended the canary (its guard rails) before it could be widened"
                            .into(),
                    ),
                    timeline,
                ));
            }
            timeline.push("widen", Some(weight), None, None);
        }
        let (seen, stop) = watch_for(agent, &to, base, &input.bounds, step_ms, poll, true)?;
        match stop {
            Some(Stop::Crossed) => {
                let reason = seen.crossed.clone().unwrap_or_default();
                match control::abort(agent) {
                    Ok(_) => {
                        timeline.push("abort", Some(0), Some(seen), Some(reason.clone()));
                        return Ok((end("rolled-back", reason), timeline));
                    }
                    Err(_) => {
                        timeline.push("aborted-by-host", Some(0), Some(seen), None);
                        return Ok((
                            end(
                                "aborted-by-host",
                                "the host's guard rails ended the canary first".into(),
                            ),
                            timeline,
                        ));
                    }
                }
            }
            Some(Stop::Ended) => {
                timeline.push("aborted-by-host", Some(0), Some(seen), None);
                return Ok((
                    end(
                        "aborted-by-host",
                        "the host's guard rails ended the canary".into(),
                    ),
                    timeline,
                ));
            }
            None => timeline.push("watched", Some(weight), Some(seen), None),
        }
    }
    let promoted = control::promote(agent).map_err(|e| explain(agent, e))?;
    let seen = watch::judge(base, watch::counts(agent, &to)?, &input.bounds);
    timeline.push(
        "promote",
        Some(100),
        Some(seen),
        Some(format!("{} is current", promoted.version)),
    );
    Ok((
        end("promoted", "every step stayed within the bounds".into()),
        timeline,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BlueGreenInput {
    pub agent: String,
    pub content_hash: String,
    /// How long the new version is watched after the switch (default 30 s).
    pub watch: Option<Value>,
    pub poll: Option<Value>,
    #[serde(default)]
    pub bounds: Bounds,
}

pub fn blue_green(
    input: BlueGreenInput,
    time_left_ms: u64,
) -> Result<(Outcome, Timeline), AgentError> {
    input.bounds.check()?;
    let watch_ms = watch::ms(input.watch.as_ref(), "watch", 30_000)?;
    let poll = watch::ms(input.poll.as_ref(), "poll", DEFAULT_POLL_MS)?;
    if watch_ms + 2_000 > time_left_ms {
        return Err(AgentError::invalid(format!(
            "a watch of {watch_ms} ms does not fit in this call's {time_left_ms} ms"
        )));
    }
    let agent = input.agent.as_str();
    let from = current(agent)?;
    let mut timeline = Timeline::new(agent);
    // Beside, with no traffic: the host compiles, instantiates and health-probes it.
    let green =
        control::start_canary(agent, &input.content_hash, 0).map_err(|e| explain(agent, e))?;
    let to = green.version.clone();
    timeline.push(
        "load",
        Some(0),
        None,
        Some(format!(
            "{to} loaded and healthy beside {}",
            from.as_deref().unwrap_or("?")
        )),
    );
    // Not switched yet: on a failure here the loaded version is dropped again.
    let base = watch::counts(agent, &to)
        .and_then(|base| {
            control::promote(agent).map_err(|e| explain(agent, e))?;
            Ok(base)
        })
        .inspect_err(|_| {
            let _ = control::abort(agent);
        })?;
    timeline.push("switch", Some(100), None, Some(format!("{to} is current")));
    let (seen, stop) = watch_for(agent, &to, base, &input.bounds, watch_ms, poll, false)?;
    let end = |outcome, reason: String| Outcome {
        outcome,
        reason,
        from: from.clone(),
        to: to.clone(),
    };
    if stop.is_some() {
        let reason = seen.crossed.clone().unwrap_or_default();
        let back = control::rollback(agent).map_err(|e| explain(agent, e))?;
        timeline.push(
            "rollback",
            None,
            Some(seen),
            Some(format!("{} is current again: {reason}", back.version)),
        );
        return Ok((end("rolled-back", reason), timeline));
    }
    timeline.push("watched", Some(100), Some(seen), None);
    Ok((
        end("kept", "the new version stayed within the bounds".into()),
        timeline,
    ))
}
