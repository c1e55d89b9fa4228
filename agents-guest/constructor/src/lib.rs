//! `constructor`: scaffolds projects from templates into a directory granted read-write: a Rust
//! library or program, a Python package, a Node.js package, a Tandem agent ([`template`]: templates
//! are data, built in or the user's own; [`names`]: each ecosystem's naming rules; [`render`]:
//! MiniJinja). It records what it wrote ([`record`]), writes only what changed and takes back
//! exactly what it wrote ([`apply`]).
//!
//! Operations: `templates`, `scaffold`, `rollback`.

pub mod apply;
pub mod names;
pub mod record;
pub mod render;
pub mod template;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, to_json};

use record::Record;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Listing {
    /// A directory of the user's templates (granted to the agent).
    #[serde(default)]
    templates_dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Scaffold {
    template: String,
    /// The directory to write into (created when missing), as the agent sees it.
    dest: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    templates_dir: Option<String>,
    /// Replace files that are in the way (changed by the user, or not written by CONSTRUCTOR).
    #[serde(default)]
    overwrite: bool,
    /// Report what would be written, write nothing.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    dest: String,
}

/// A destination as given, without trailing slashes; refused when empty or with `..`.
fn destination(dest: &str) -> Result<String, AgentError> {
    let trimmed = dest.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(|p| p == "..") {
        return Err(AgentError::invalid(format!(
            "`dest` `{dest}` must name a directory, without `..`"
        )));
    }
    Ok(trimmed.to_string())
}

fn templates(input: Listing) -> Result<Json, AgentError> {
    let describe = |t: &template::Template, cache: Option<template::Cache>| {
        json!({
            "name": t.name, "source": t.source, "description": t.spec.description,
            "ecosystem": t.spec.ecosystem, "variables": t.spec.variables,
            "files": t.files.len(), "cache": cache,
        })
    };
    let mut out = Vec::new();
    if let Some(dir) = &input.templates_dir {
        for (t, cache) in template::user(dir)? {
            out.push(describe(&t, Some(cache)));
        }
    }
    for t in template::built_in()? {
        out.push(describe(&t, None));
    }
    to_json(&json!({ "templates": out }))
}

fn scaffold(input: Scaffold) -> Result<Json, AgentError> {
    let dest = destination(&input.dest)?;
    let (template, cache) = template::find(&input.template, input.templates_dir.as_deref())?;
    let values = render::variables(&template, &input.variables)?;
    let files = render::files(&template, &values, &dest)?;
    let mut record = match Record::load(&dest)? {
        Some(record) if record.template != template.name => {
            return Err(AgentError::invalid(format!(
                "`{dest}` was scaffolded from the template `{}`, not `{}`; roll it back first",
                record.template, template.name
            )));
        }
        Some(record) => record,
        None => Record {
            template: template.name.clone(),
            ..Record::default()
        },
    };
    let written = apply::scaffold(&dest, &files, &mut record, input.overwrite, input.dry_run)?;
    let wrote = !(written.created.is_empty() && written.updated.is_empty());
    if wrote && !input.dry_run {
        record.variables = values.clone();
        record.store(&dest)?;
    }
    to_json(&json!({
        "template": template.name,
        "source": template.source,
        "cache": cache,
        "dest": dest,
        "dry_run": input.dry_run,
        "created": written.created,
        "updated": written.updated,
        "unchanged": written.unchanged,
        "conflicts": written.conflicts,
        "next": render::next(&template, &values, &dest)?,
    }))
}

fn rollback(input: Rollback) -> Result<Json, AgentError> {
    let dest = destination(&input.dest)?;
    let record = Record::load(&dest)?.ok_or_else(|| {
        AgentError::invalid(format!(
            "nothing is recorded for `{dest}`: CONSTRUCTOR did not scaffold there, or it was rolled back"
        ))
    })?;
    let removed = apply::rollback(&dest, &record)?;
    Record::forget(&dest)?;
    to_json(&json!({ "dest": dest, "template": record.template, "rollback": removed }))
}

struct Constructor;

impl Agent for Constructor {
    fn describe() -> AgentInfo {
        AgentInfo::new("constructor", "Scaffolds Rust, Python, Node.js and Tandem agent projects from templates, incrementally, with a rollback that keeps what the user changed")
            .operation(Operation::new("templates", "Lists the templates (built in, and the user's from `templates-dir`) with their variables")
                .example(json!({})))
            .operation(Operation::new("scaffold", "Renders a template into `dest`: creates what is missing, updates what it wrote before, reports conflicts and what is unchanged")
                .example(json!({"template": "rust-lib", "dest": "out/my-lib", "variables": {"name": "my-lib"}})))
            .operation(Operation::new("rollback", "Removes what `scaffold` wrote into `dest`, keeping (and reporting) files changed since")
                .example(json!({"dest": "out/my-lib"})))
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "templates" => templates(task.input()?),
            "scaffold" => scaffold(task.input()?),
            "rollback" => rollback(task.input()?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Constructor);
