//! Rendering a template with the caller's variables: each checked against its kind first, then
//! every path and file rendered with MiniJinja (strict: an unknown placeholder is an error naming
//! the file and line; no HTML escaping; trailing newlines kept; fuel bounds a user's template).
//! Filters for derived names: `snake`, `pascal`, `python_module`.

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use tandem_sdk::AgentError;

use crate::names;
use crate::template::Template;

/// A file as it will be written: its path relative to the destination, and its content.
pub struct Rendered {
    pub path: String,
    pub text: String,
}

/// The variables a call gives, checked against the template's: every one known, every required one
/// given, each valid for its kind; defaults filled in.
pub fn variables(
    template: &Template,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, AgentError> {
    let spec = &template.spec.variables;
    let unknown: Vec<&str> = given
        .keys()
        .filter(|k| !spec.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(AgentError::invalid(format!(
            "template `{}` has no variable `{}`; its variables are: {}",
            template.name,
            unknown.join("`, `"),
            spec.keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut values = BTreeMap::new();
    for (name, variable) in spec {
        let value = given
            .get(name)
            .or(variable.default.as_ref())
            .ok_or_else(|| {
                AgentError::invalid(format!(
                    "template `{}` needs the variable `{name}`: {}",
                    template.name, variable.description
                ))
            })?;
        names::check(variable.kind, value)
            .map_err(|e| AgentError::invalid(format!("variable `{name}`: {e}")))?;
        values.insert(name.clone(), value.clone());
    }
    Ok(values)
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(10_000_000));
    env.add_filter("snake", |s: String| s.replace(['-', '.'], "_"));
    env.add_filter("pascal", |s: String| names::pascal(&s));
    env.add_filter("python_module", |s: String| names::python_module(&s));
    env
}

fn render_one(
    env: &Environment<'static>,
    what: &str,
    source: &str,
    context: &BTreeMap<String, String>,
) -> Result<String, AgentError> {
    env.render_named_str(what, source, context).map_err(|e| {
        let line = e.line().map(|l| format!(", line {l}")).unwrap_or_default();
        let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
        AgentError::invalid(format!(
            "template file `{what}`{line}: {}{detail}",
            e.kind()
        ))
    })
}

/// What placeholders see: the variables, and `dest`.
fn context(values: &BTreeMap<String, String>, dest: &str) -> BTreeMap<String, String> {
    let mut context = values.clone();
    context.insert("dest".to_string(), dest.to_string());
    context
}

/// Every file of `template` rendered with `values` (and `dest`), paths checked to stay inside the
/// destination.
pub fn files(
    template: &Template,
    values: &BTreeMap<String, String>,
    dest: &str,
) -> Result<Vec<Rendered>, AgentError> {
    let env = environment();
    let context = context(values, dest);
    let mut out: Vec<Rendered> = Vec::with_capacity(template.files.len());
    for file in &template.files {
        let what = format!("{}/{}", template.name, file.path);
        let path = render_one(&env, &what, &file.path, &context)?;
        let path = path.strip_suffix(".tmpl").unwrap_or(&path).to_string();
        check_path(&what, &path)?;
        if out.iter().any(|r| r.path == path) {
            return Err(AgentError::invalid(format!(
                "template `{}` renders two files to `{path}`",
                template.name
            )));
        }
        let text = render_one(&env, &what, &file.text, &context)?;
        out.push(Rendered { path, text });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The commands the template says to run next, rendered.
pub fn next(
    template: &Template,
    values: &BTreeMap<String, String>,
    dest: &str,
) -> Result<Vec<String>, AgentError> {
    let env = environment();
    let context = context(values, dest);
    let what = format!("{}/template.toml (next)", template.name);
    template
        .spec
        .next
        .iter()
        .map(|line| render_one(&env, &what, line, &context))
        .collect()
}

/// A rendered path is relative and plain: no empty, `.` or `..` parts, no backslash or NUL.
fn check_path(what: &str, path: &str) -> Result<(), AgentError> {
    let bad = path.starts_with('/')
        || path.contains(['\\', '\0'])
        || path.split('/').any(|part| matches!(part, "" | "." | ".."));
    if bad {
        return Err(AgentError::invalid(format!(
            "template file `{what}` renders to the path `{path}`, which leaves the destination or is not plain"
        )));
    }
    Ok(())
}
