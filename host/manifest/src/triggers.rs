//! `[[triggers]]`: calls the host makes to an agent on its own, on a schedule (`every = "30s"`, or
//! `cron = "*/5 * * * *"`, UTC, parsed by the `croner` crate) or when an event happens
//! (`on-event = "agent-swapped"`, a host event's type or an agent's custom event name, with an
//! optional `filter` on its payload). Each names the operation and the input of the calls it makes.
//!
//! ```toml
//! [[triggers]]
//! name = "sample"            # optional: "trigger-1", "trigger-2", ... by position
//! every = "10s"              # or cron = "0 */5 * * * *", or on-event = "..."
//! operation = "sample"
//! input = { window = 60 }    # any TOML value, handed over as JSON (default {})
//!
//! [[triggers]]
//! on-event = "agent-swapped"
//! filter = { agent = "linter" }   # the payload's top-level fields must equal these
//! operation = "review"
//! ```

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::names::check_name;
use crate::values::parse_duration;

/// The most triggers one agent may have.
pub const MAX_TRIGGERS: usize = 32;
/// The shortest period of an `every` trigger.
pub const MIN_PERIOD: Duration = Duration::from_millis(100);
/// The longest period of an `every` trigger.
pub const MAX_PERIOD: Duration = Duration::from_secs(31 * 24 * 3600);

/// One `[[triggers]]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TriggerSection {
    /// `name`: how the trigger is listed (default `trigger-<position>`).
    pub name: Option<String>,
    /// `every`: the period of a scheduled trigger.
    pub every: Option<String>,
    /// `cron`: a cron expression (5 fields, or 6 with seconds first), in UTC.
    pub cron: Option<String>,
    /// `on-event`: the event that fires it.
    pub on_event: Option<String>,
    /// `filter`: fields the event's payload must have, with these values.
    pub filter: Option<toml::Table>,
    /// `operation`: the operation it calls.
    pub operation: Option<String>,
    /// `input`: the input of its calls.
    pub input: Option<toml::Value>,
}

/// When a trigger fires.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Every period, the first one a period after the agent is loaded.
    Every(Duration),
    /// At the times a cron expression names (UTC); the expression as written (checked).
    Cron(String),
    /// When an event named so is published, if its payload has every field of `filter` with its
    /// value (strings compared as text, numbers and booleans as written).
    OnEvent {
        /// A host event's type (`agent-swapped`, `breaker`, ...) or an agent's event name.
        event: String,
        /// (field, value as text) pairs.
        filter: Vec<(String, String)>,
    },
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            When::Every(period) => write!(f, "every {}", humantime::format_duration(*period)),
            When::Cron(expression) => write!(f, "cron {expression}"),
            When::OnEvent { event, filter } if filter.is_empty() => write!(f, "on-event {event}"),
            When::OnEvent { event, filter } => {
                let fields: Vec<String> = filter.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "on-event {event} where {}", fields.join(", "))
            }
        }
    }
}

/// A trigger, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Its name, unique among the agent's triggers.
    pub name: String,
    /// When it fires.
    pub when: When,
    /// The operation it calls.
    pub operation: String,
    /// The input of its calls, JSON text.
    pub input: String,
}

/// Checks and resolves the `[[triggers]]` of a manifest; the error names the key (`triggers[2].cron`)
/// and what is wrong. Inputs are bounded by `max_input` bytes.
pub fn resolve_triggers(
    sections: &[TriggerSection],
    max_input: usize,
) -> Result<Vec<Trigger>, (String, String)> {
    if sections.len() > MAX_TRIGGERS {
        return Err((
            "triggers".into(),
            format!(
                "{} triggers; an agent may have {MAX_TRIGGERS} at most",
                sections.len()
            ),
        ));
    }
    let mut triggers: Vec<Trigger> = Vec::with_capacity(sections.len());
    for (i, section) in sections.iter().enumerate() {
        let key = |field: &str| match field {
            "" => format!("triggers[{}]", i + 1),
            field => format!("triggers[{}].{field}", i + 1),
        };
        let trigger = resolve_trigger(i, section, max_input).map_err(|(k, m)| (key(k), m))?;
        if triggers.iter().any(|t| t.name == trigger.name) {
            return Err((
                key("name"),
                format!("two triggers are named `{}`", trigger.name),
            ));
        }
        triggers.push(trigger);
    }
    Ok(triggers)
}

fn resolve_trigger(
    position: usize,
    section: &TriggerSection,
    max_input: usize,
) -> Result<Trigger, (&'static str, String)> {
    let name = match &section.name {
        Some(name) => {
            check_name("trigger name", name).map_err(|m| ("name", m))?;
            name.clone()
        }
        None => format!("trigger-{}", position + 1),
    };
    let operation = section.operation.as_deref().ok_or((
        "operation",
        "a trigger must name the `operation` it calls".to_string(),
    ))?;
    check_name("operation name", operation).map_err(|m| ("operation", m))?;
    let given = [
        section.every.is_some(),
        section.cron.is_some(),
        section.on_event.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        1 => {}
        0 => {
            return Err((
                "",
                "a trigger needs one of `every` (\"30s\"), `cron` (\"*/5 * * * *\") or `on-event` (an event name)".into(),
            ));
        }
        _ => {
            return Err((
                "",
                "a trigger takes only one of `every`, `cron` and `on-event`".into(),
            ));
        }
    }
    if section.filter.is_some() && section.on_event.is_none() {
        return Err((
            "filter",
            "`filter` applies to `on-event` triggers only".into(),
        ));
    }
    let when = if let Some(every) = &section.every {
        When::Every(parse_duration(every, MIN_PERIOD, MAX_PERIOD).map_err(|m| ("every", m))?)
    } else if let Some(cron) = &section.cron {
        croner::Cron::from_str(cron).map_err(|e| {
            (
                "cron",
                format!("`{cron}` is not a cron expression (\"minute hour day month weekday\", or seconds first): {e}"),
            )
        })?;
        When::Cron(cron.clone())
    } else {
        let event = section.on_event.clone().unwrap_or_default();
        check_name("event name", &event).map_err(|m| ("on-event", m))?;
        let mut filter = Vec::new();
        for (field, value) in section.filter.iter().flatten() {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err((
                        "filter",
                        format!("`{field}`: a filter compares strings, numbers and booleans"),
                    ));
                }
            };
            filter.push((field.clone(), text));
        }
        When::OnEvent { event, filter }
    };
    let input = match &section.input {
        None => "{}".to_string(),
        Some(value) => {
            if contains_datetime(value) {
                return Err((
                    "input",
                    "TOML dates and times have no JSON form: write them as strings".into(),
                ));
            }
            serde_json::to_string(value).map_err(|e| ("input", e.to_string()))?
        }
    };
    if input.len() > max_input {
        return Err((
            "input",
            format!(
                "{} bytes of input, over the agent's max-input of {max_input}",
                input.len()
            ),
        ));
    }
    Ok(Trigger {
        name,
        when,
        operation: operation.to_string(),
        input,
    })
}

fn contains_datetime(value: &toml::Value) -> bool {
    match value {
        toml::Value::Datetime(_) => true,
        toml::Value::Array(items) => items.iter().any(contains_datetime),
        toml::Value::Table(table) => table.values().any(contains_datetime),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Vec<Trigger>, (String, String)> {
        #[derive(Deserialize)]
        struct Doc {
            triggers: Vec<TriggerSection>,
        }
        let doc: Doc = toml::from_str(text).unwrap();
        resolve_triggers(&doc.triggers, 1 << 20)
    }

    #[test]
    fn each_kind_of_trigger_resolves() {
        let triggers = resolve(
            r#"
            [[triggers]]
            every = "200ms"
            operation = "sample"
            input = { window = 60, names = ["a"] }

            [[triggers]]
            name = "nightly"
            cron = "0 3 * * *"
            operation = "report"

            [[triggers]]
            on-event = "agent-swapped"
            filter = { agent = "linter", n = 3 }
            operation = "review"
            "#,
        )
        .unwrap();
        assert_eq!(triggers[0].name, "trigger-1");
        assert_eq!(triggers[0].when, When::Every(Duration::from_millis(200)));
        assert_eq!(triggers[0].input, r#"{"names":["a"],"window":60}"#);
        assert_eq!(triggers[1].when.to_string(), "cron 0 3 * * *");
        assert_eq!(triggers[1].input, "{}");
        assert_eq!(
            triggers[2].when.to_string(),
            "on-event agent-swapped where agent=linter, n=3"
        );
    }

    #[test]
    fn bad_triggers_are_named_by_key() {
        for (text, key, says) in [
            ("operation = \"x\"", "triggers[1]", "needs one of"),
            (
                "every = \"1s\"\ncron = \"* * * * *\"\noperation = \"x\"",
                "triggers[1]",
                "only one",
            ),
            (
                "every = \"10ms\"\noperation = \"x\"",
                "triggers[1].every",
                "out of range",
            ),
            (
                "cron = \"61 * * * *\"\noperation = \"x\"",
                "triggers[1].cron",
                "not a cron expression",
            ),
            ("every = \"1s\"", "triggers[1].operation", "must name"),
            (
                "every = \"1s\"\noperation = \"x\"\nfilter = { a = 1 }",
                "triggers[1].filter",
                "on-event",
            ),
            (
                "on-event = \"x\"\noperation = \"x\"\nfilter = { a = [1] }",
                "triggers[1].filter",
                "compares",
            ),
            (
                "every = \"1s\"\noperation = \"x\"\ninput = { at = 1979-05-27 }",
                "triggers[1].input",
                "strings",
            ),
            (
                "on-event = \"no spaces\"\noperation = \"x\"",
                "triggers[1].on-event",
                "event name",
            ),
        ] {
            let (k, message) = resolve(&format!("[[triggers]]\n{text}")).unwrap_err();
            assert_eq!(k, key, "{text}");
            assert!(message.contains(says), "{text}: {message}");
        }
        let twice = "[[triggers]]\nname = \"a\"\nevery = \"1s\"\noperation = \"x\"\n".repeat(2);
        assert!(resolve(&twice).unwrap_err().1.contains("two triggers"));
    }
}
