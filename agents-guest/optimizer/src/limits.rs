//! `recommend-limits`: each agent's manifest limits from its figures, with the reasoning. The
//! timeout is the p99 latency times a margin (the host's percentiles are within 19 %), at least a
//! floor that scheduling jitter cannot reach; fuel is the most one attempt used times a margin (the
//! mean, with a wider margin, when only the total is known); memory is the peak with headroom, in
//! whole MiB; `max-attempts` is the fewest attempts that make a call fail less than once in a
//! thousand at the observed per-attempt failure rate. A limit calls already ran into is never
//! lowered.

use serde::{Deserialize, Serialize};

use crate::figures::Figures;
use crate::units::{human_bytes, human_ms, mib_up, nice_duration, nice_up};

/// Knobs of the recommendation, all optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Margins {
    /// The timeout is p99 times this (default 3).
    #[serde(default = "three")]
    pub timeout: f64,
    /// The lowest timeout recommended, in milliseconds (default 100).
    #[serde(default = "hundred")]
    pub timeout_floor_ms: f64,
    /// Fuel is the largest attempt's times this (default 2; the mean's times 10 when only the
    /// total is known).
    #[serde(default = "two")]
    pub fuel: f64,
    /// Memory is the peak times this (default 1.5), rounded up to whole MiB.
    #[serde(default = "one_and_half")]
    pub memory: f64,
    /// Fewer calls than this make a recommendation a guess (default 100): it is given, and flagged.
    #[serde(default = "hundred_calls")]
    pub min_calls: u64,
    /// The failure rate a call's retries should bring it under (default 0.001).
    #[serde(default = "thousandth")]
    pub target_failure: f64,
}

fn three() -> f64 {
    3.0
}
fn hundred() -> f64 {
    100.0
}
fn two() -> f64 {
    2.0
}
fn one_and_half() -> f64 {
    1.5
}
fn hundred_calls() -> u64 {
    100
}
fn thousandth() -> f64 {
    0.001
}

impl Default for Margins {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("defaults")
    }
}

/// One setting's recommendation.
#[derive(Debug, Serialize)]
pub struct Setting {
    /// The manifest key: `[limits] timeout`.
    pub setting: &'static str,
    /// The value in force, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<serde_json::Value>,
    /// The value to write, in the manifest's syntax, or `None` to leave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended: Option<serde_json::Value>,
    pub reasoning: String,
}

/// The recommendation for one agent version.
#[derive(Debug, Serialize)]
pub struct Recommendation {
    pub agent: String,
    pub version: String,
    pub calls: u64,
    /// False when the figures hold fewer calls than `min-calls`.
    pub enough_data: bool,
    pub settings: Vec<Setting>,
    /// The changes as a TOML patch to the agent's manifest.
    pub toml: String,
    /// The reasoning as prose.
    pub prose: String,
}

/// Retryable classes: the failures a retry may pass.
const RETRYABLE: [&str; 3] = ["retryable", "timeout", "unavailable"];

/// The recommendation for one agent's figures.
pub fn recommend(f: &Figures, m: &Margins) -> Recommendation {
    let mut settings = Vec::new();
    let limits = f.limits;
    let enough = f.calls >= m.min_calls;

    // Timeout.
    let timeouts = f.failed(&["timeout"]);
    settings.push(match (f.p99_ms, limits) {
        (_, Some(l)) if timeouts > 0 => Setting {
            setting: "[limits] timeout",
            current: Some(nice_duration(l.timeout_ms as f64).1.into()),
            recommended: None,
            reasoning: format!("{timeouts} of {} calls timed out, so the latencies seen are cut at the current {}: the percentiles cannot say how long the work needs. Find out whether those calls hang (DEBUGGER `explain`) before raising it", f.calls, human_ms(l.timeout_ms as f64)),
        },
        (Some(p99), _) => {
            let wanted = (p99 * m.timeout).max(m.timeout_floor_ms);
            let (ms, text) = nice_duration(wanted);
            let current = limits.map(|l| l.timeout_ms);
            let change = current.is_none_or(|c| c != ms);
            Setting {
                setting: "[limits] timeout",
                current: current.map(|c| nice_duration(c as f64).1.into()),
                recommended: change.then(|| text.clone().into()),
                reasoning: format!(
                    "p99 latency {} x {} margin = {}, at least {} (scheduling jitter on a busy host), rounded up to {text}{}",
                    human_ms(p99), m.timeout, human_ms(p99 * m.timeout), human_ms(m.timeout_floor_ms),
                    match current {
                        Some(c) if (c as f64) > ms as f64 * 10.0 => format!("; the current {} is {:.0}x that: a hung call holds an instance that long", human_ms(c as f64), c as f64 / ms as f64),
                        Some(c) if c < ms => format!("; the current {} is below it: calls in the tail risk timing out", human_ms(c as f64)),
                        _ => String::new(),
                    }
                ),
            }
        }
        (None, _) => Setting {
            setting: "[limits] timeout",
            current: limits.map(|l| nice_duration(l.timeout_ms as f64).1.into()),
            recommended: None,
            reasoning: "no calls measured yet".into(),
        },
    });

    // Fuel.
    let fuel_out = f.failed(&["fuel-exhausted"]);
    let current_fuel = limits.and_then(|l| l.fuel);
    settings.push(if limits.is_some_and(|l| l.fuel.is_none()) {
        Setting { setting: "[limits] fuel", current: None, recommended: None, reasoning: "not metered: the manifest sets no fuel limit, so its calls are bound by their deadline alone and run without fuel instrumentation; set one to count and cap their work".into() }
    } else if fuel_out > 0 {
        Setting {
            setting: "[limits] fuel",
            current: current_fuel.map(Into::into),
            recommended: current_fuel.map(|c| (c.saturating_mul(2)).into()),
            reasoning: format!("{fuel_out} calls ran out of fuel, so the most a call needs is not known: double it if those calls are legitimate work, or find the loop that does not end"),
        }
    } else if f.calls == 0 || f.fuel_total == 0 {
        Setting { setting: "[limits] fuel", current: current_fuel.map(Into::into), recommended: None, reasoning: "no fuel measured yet".into() }
    } else {
        let (basis, wanted, how) = match f.max_fuel {
            Some(max) if max > 0 => (max as f64, max as f64 * m.fuel, format!("the largest attempt used {max} x {} margin", m.fuel)),
            _ => {
                let mean = f.fuel_total as f64 / f.calls as f64;
                (mean, mean * m.fuel * 5.0, format!("only the total is known: the mean {mean:.0} per call x {} margin", m.fuel * 5.0))
            }
        };
        let recommended = nice_up(wanted.max(1_000_000.0));
        Setting {
            setting: "[limits] fuel",
            current: current_fuel.map(Into::into),
            recommended: (current_fuel != Some(recommended)).then(|| recommended.into()),
            reasoning: format!("{how} = {wanted:.0}, at least 1 000 000, rounded up to {recommended}{}", match current_fuel {
                Some(c) if c as f64 > basis * 100.0 => format!("; the current {c} lets a runaway loop spin {:.0}x longer than the heaviest call seen", c as f64 / basis),
                _ => String::new(),
            }),
        }
    });

    // Memory.
    let memory_out = f.failed(&["memory-limit"]);
    let current_memory = limits.map(|l| l.memory_bytes);
    settings.push(if memory_out > 0 {
        Setting {
            setting: "[limits] memory",
            current: current_memory.map(|c| mib_up(c as f64).1.into()),
            recommended: None,
            reasoning: format!("{memory_out} calls hit the memory limit: the peak seen is the limit itself, not what the work needs. Raise it only if those inputs are legitimate"),
        }
    } else if f.peak_memory == 0 {
        Setting { setting: "[limits] memory", current: current_memory.map(|c| mib_up(c as f64).1.into()), recommended: None, reasoning: "no memory measured yet".into() }
    } else {
        let wanted = f.peak_memory as f64 * m.memory;
        let (bytes, text) = mib_up(wanted);
        Setting {
            setting: "[limits] memory",
            current: current_memory.map(|c| mib_up(c as f64).1.into()),
            recommended: (current_memory != Some(bytes)).then(|| text.clone().into()),
            reasoning: format!("peak linear memory {} x {} = {}, rounded up to {text}; inputs larger than those seen need more", human_bytes(f.peak_memory as f64), m.memory, human_bytes(wanted)),
        }
    });

    // Attempts.
    let retryable = f.failed(&RETRYABLE);
    let attempts = f.calls + f.retries;
    settings.push(if f.retries == 0 && retryable == 0 {
        Setting {
            setting: "[resilience] max-attempts",
            current: None,
            recommended: None,
            reasoning: format!("no call needed a retry in {} calls: leave it", f.calls),
        }
    } else {
        // Every retry followed a failed attempt, and every retryable failure counted is a call
        // whose last attempt failed too.
        let failed_attempts = f.retries + retryable;
        let p = (failed_attempts as f64 / attempts.max(1) as f64).min(0.999);
        let n = ((m.target_failure.ln() / p.ln() - 1e-9).ceil() as u32).clamp(1, 10);
        Setting {
            setting: "[resilience] max-attempts",
            current: None,
            recommended: Some(n.into()),
            reasoning: format!("{failed_attempts} of {attempts} attempts failed with a class a retry may pass (p = {p:.3}); {n} attempts make a call fail with p^{n} = {:.1e}, under {}", p.powi(n as i32), m.target_failure),
        }
    });

    let toml = patch(&settings);
    let prose = format!(
        "{} {} ({} calls{}): {}",
        f.agent,
        f.version,
        f.calls,
        if enough {
            String::new()
        } else {
            format!(", fewer than {}: treat this as a first guess", m.min_calls)
        },
        settings
            .iter()
            .map(|s| format!("{}: {}.", s.setting, s.reasoning))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Recommendation {
        agent: f.agent.clone(),
        version: f.version.clone(),
        calls: f.calls,
        enough_data: enough,
        settings,
        toml,
        prose,
    }
}

/// The recommended changes as TOML sections.
fn patch(settings: &[Setting]) -> String {
    let mut sections: Vec<(&str, Vec<String>)> = Vec::new();
    for s in settings {
        let Some(value) = &s.recommended else {
            continue;
        };
        let (section, key) = s.setting.split_once(' ').unwrap_or(("", s.setting));
        let section = section.trim_matches(['[', ']']);
        let line = format!("{key} = {value}");
        match sections.iter_mut().find(|(name, _)| *name == section) {
            Some((_, lines)) => lines.push(line),
            None => sections.push((section, vec![line])),
        }
    }
    sections
        .iter()
        .map(|(name, lines)| format!("[{name}]\n{}\n", lines.join("\n")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::Limits;

    #[test]
    fn a_generous_timeout_comes_down_to_the_tail_with_margin() {
        let f = Figures {
            agent: "echo".into(),
            version: "0.1.0".into(),
            calls: 1000,
            outcomes: [("ok".to_string(), 1000)].into(),
            p99_ms: Some(40.0),
            fuel_total: 3_000_000,
            max_fuel: Some(5000),
            peak_memory: 1_114_112,
            limits: Some(Limits {
                timeout_ms: 5000,
                fuel: Some(500_000_000),
                memory_bytes: 64 << 20,
                max_instances: 32,
            }),
            ..Figures::default()
        };
        let r = recommend(&f, &Margins::default());
        assert_eq!(r.settings[0].recommended, Some("200ms".into()), "{r:#?}");
        assert_eq!(r.settings[1].recommended, Some(1_000_000.into()));
        assert_eq!(r.settings[2].recommended, Some("2MiB".into()));
        assert_eq!(r.settings[3].recommended, None);
        assert_eq!(
            r.toml,
            "[limits]\ntimeout = \"200ms\"\nfuel = 1000000\nmemory = \"2MiB\"\n"
        );
        let parsed: toml::Table = toml::from_str(&r.toml).unwrap();
        assert!(parsed["limits"].get("timeout").is_some());
    }

    #[test]
    fn an_agent_without_a_fuel_limit_is_not_told_one_from_no_fuel() {
        let f = Figures {
            calls: 10,
            outcomes: [("ok".to_string(), 10)].into(),
            limits: Some(Limits {
                timeout_ms: 5000,
                fuel: None,
                memory_bytes: 64 << 20,
                max_instances: 32,
            }),
            ..Figures::default()
        };
        let r = recommend(&f, &Margins::default());
        assert_eq!(r.settings[1].setting, "[limits] fuel");
        assert_eq!(r.settings[1].recommended, None);
        assert!(r.settings[1].reasoning.starts_with("not metered"), "{r:#?}");
        assert!(!r.toml.contains("fuel"), "{}", r.toml);
    }

    #[test]
    fn retries_set_the_attempts_and_a_limit_hit_is_not_lowered() {
        let f = Figures {
            agent: "flaky".into(),
            calls: 1000,
            outcomes: [("ok".to_string(), 990), ("timeout".to_string(), 10)].into(),
            retries: 100,
            p99_ms: Some(10.0),
            limits: Some(Limits {
                timeout_ms: 50,
                fuel: Some(1),
                memory_bytes: 1,
                max_instances: 1,
            }),
            ..Figures::default()
        };
        let r = recommend(&f, &Margins::default());
        assert_eq!(r.settings[0].recommended, None, "{r:#?}");
        // 110 of 1100 attempts failed: p = 0.1, three attempts give 1e-3.
        assert_eq!(r.settings[3].recommended, Some(3.into()));
    }
}
