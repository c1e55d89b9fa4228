//! `tandem new`: scaffolds a project from one of CONSTRUCTOR's templates by running the
//! `constructor` agent with only the directory it writes into granted (read-write), then prints
//! what it wrote and the commands to run next. `--undo` takes back what it wrote.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};
use tandem::{DirGrant, ErrorKind};

use super::{Failure, GlobalArgs};

#[derive(Args)]
pub struct NewArgs {
    /// The template: `agent` (a Tandem agent), `rust-lib`, `rust-bin`, `python`, `node`, or the name
    /// of one of your own (with --templates). `tandem run constructor --op templates` lists them.
    template: String,
    /// The project's name, checked by its ecosystem's rules; also the name of its directory.
    name: String,
    /// For `agent`: the language it is written in (`python`: `app.py` with the `tandem_agent`
    /// helper; `js`: `app.js` with the `tandem-agent` helper; both built by `tandem build`).
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// The directory to create the project in [default: `agents-guest` for a Rust agent,
    /// `agents-py` for a Python one and `agents-js` for a JavaScript one when there is one here,
    /// else the current directory].
    #[arg(long, value_name = "DIR")]
    into: Option<PathBuf>,
    /// A template variable, e.g. `--var description="Says hello"`. Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    vars: Vec<String>,
    /// A directory of your own templates (each a subdirectory with a `template.toml`).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// Say what would be written, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace files in the way (changed since, or not written by `tandem new`).
    #[arg(long)]
    overwrite: bool,
    /// Remove what `tandem new` wrote for this name; files changed since are kept and listed.
    #[arg(long, conflicts_with_all = ["dry_run", "overwrite", "vars", "templates"])]
    undo: bool,
    /// Print CONSTRUCTOR's output as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agents: super::AgentsDir,
}

/// The languages an agent can be scaffolded in.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The template a short name (and, for `agent`, a language) stands for.
fn template_name(short: &str, lang: Lang) -> Result<&str, Failure> {
    Ok(match (short, lang) {
        ("agent", Lang::Rust) => "tandem-agent",
        ("agent", Lang::Python) => "tandem-agent-python",
        ("agent", Lang::Js) => "tandem-agent-js",
        (_, Lang::Python | Lang::Js) => {
            return Err(Failure::invalid_input(format!(
                "--lang applies to `agent` only, not `{short}`"
            )));
        }
        ("python", _) => "python-package",
        ("node", _) => "node-package",
        (other, _) => other,
    })
}

/// Where an agent in `template`'s language goes when `--into` is not given, if that directory is
/// here: `agents-guest` for Rust, `agents-py` for Python, `agents-js` for JavaScript.
fn agents_home(template: &str) -> Option<&'static str> {
    match template {
        "tandem-agent" => Some("agents-guest"),
        "tandem-agent-python" => Some("agents-py"),
        "tandem-agent-js" => Some("agents-js"),
        _ => None,
    }
}

fn absolute(dir: &Path, flag: &str) -> Result<PathBuf, Failure> {
    std::fs::canonicalize(dir)
        .ok()
        .filter(|d| d.is_dir())
        .ok_or_else(|| Failure::invalid_input(format!("{flag} {}: not a directory", dir.display())))
}

/// Grants `dir` to the guest at its own absolute path, so that what CONSTRUCTOR records for a
/// destination names it uniquely.
fn grant(dir: &Path, writable: bool) -> DirGrant {
    DirGrant {
        host: dir.to_path_buf(),
        guest: dir.to_string_lossy().into_owned(),
        writable,
    }
}

pub async fn new(global: &GlobalArgs, args: NewArgs) -> Result<ExitCode, Failure> {
    let template = template_name(&args.template, args.lang)?;
    let into = match (&args.into, agents_home(template)) {
        (Some(dir), _) => absolute(dir, "--into")?,
        (None, Some(home)) if Path::new(home).is_dir() => absolute(Path::new(home), "--into")?,
        (None, _) => absolute(Path::new("."), "--into")?,
    };
    let dest = into.join(&args.name).to_string_lossy().into_owned();
    let mut dirs = vec![grant(&into, true)];
    let (operation, input) = if args.undo {
        ("rollback", json!({"dest": dest}))
    } else {
        let mut variables = serde_json::Map::new();
        variables.insert("name".into(), json!(args.name));
        for var in &args.vars {
            let (key, value) = var.split_once('=').ok_or_else(|| {
                Failure::invalid_input(format!("--var {var}: expected KEY=VALUE"))
            })?;
            variables.insert(key.to_string(), json!(value));
        }
        let mut input = json!({
            "template": template, "dest": dest, "variables": variables,
            "dry-run": args.dry_run, "overwrite": args.overwrite,
        });
        if let Some(dir) = &args.templates {
            let dir = absolute(dir, "--templates")?;
            input["templates-dir"] = json!(dir.to_string_lossy());
            dirs.push(grant(&dir, false));
        }
        ("scaffold", input)
    };
    let output = super::run::call_agent(
        global,
        "constructor",
        &args.agents.path,
        operation,
        input.to_string(),
        dirs,
    )
    .await?;
    let output: Value = serde_json::from_str(&output).map_err(|e| {
        Failure::new(
            ErrorKind::Internal,
            anyhow::anyhow!("constructor answered with invalid JSON: {e}"),
        )
    })?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&output).unwrap_or_default()
        );
    }
    let shown = Shown::relative_to_cwd();
    let conflicts = if args.undo {
        undo_summary(&output, &shown, args.json)
    } else {
        scaffold_summary(&output, &shown, args.json)
    };
    Ok(if conflicts {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Paths printed relative to the current directory when they are under it.
struct Shown(Option<String>);

impl Shown {
    fn relative_to_cwd() -> Shown {
        Shown(
            std::env::current_dir()
                .ok()
                .map(|d| format!("{}/", d.to_string_lossy())),
        )
    }

    fn path(&self, text: &str) -> String {
        match &self.0 {
            Some(cwd) => text.replace(cwd.as_str(), ""),
            None => text.to_string(),
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A line of the summary: on stdout, or on stderr when the JSON went to stdout.
fn say(json: bool, line: String) {
    if json {
        eprintln!("{line}");
    } else {
        outln!("{line}");
    }
}

/// Prints what a scaffold wrote; true when files were in
/// the way.
fn scaffold_summary(output: &Value, shown: &Shown, json: bool) -> bool {
    let print = |line: String| say(json, line);
    let dest = shown.path(output["dest"].as_str().unwrap_or_default());
    let verb = if output["dry_run"] == true {
        "would be "
    } else {
        ""
    };
    for (what, key) in [
        ("created", "created"),
        ("updated", "updated"),
        ("unchanged", "unchanged"),
    ] {
        let files = strings(&output[key]);
        if !files.is_empty() {
            print(format!("{verb}{what} in {dest}: {}", files.join(", ")));
        }
    }
    let conflicts = output["conflicts"].as_array().cloned().unwrap_or_default();
    for conflict in &conflicts {
        print(format!(
            "not written: {dest}/{}: {}",
            conflict["path"].as_str().unwrap_or_default(),
            conflict["reason"].as_str().unwrap_or_default()
        ));
    }
    let next = strings(&output["next"]);
    if !next.is_empty() {
        print("next:".to_string());
        for command in next {
            print(format!("  {}", shown.path(&command)));
        }
    }
    !conflicts.is_empty()
}

/// Prints what an undo removed and kept; true when files were kept.
fn undo_summary(output: &Value, shown: &Shown, json: bool) -> bool {
    let print = |line: String| say(json, line);
    let dest = shown.path(output["dest"].as_str().unwrap_or_default());
    let rollback = &output["rollback"];
    let removed = strings(&rollback["removed"]);
    print(format!(
        "removed from {dest}: {}",
        if removed.is_empty() {
            "nothing".to_string()
        } else {
            removed.join(", ")
        }
    ));
    let missing = strings(&rollback["missing"]);
    if !missing.is_empty() {
        print(format!("already gone: {}", missing.join(", ")));
    }
    let kept = rollback["kept"].as_array().cloned().unwrap_or_default();
    for file in &kept {
        print(format!(
            "kept: {dest}/{}: {}",
            file["path"].as_str().unwrap_or_default(),
            file["reason"].as_str().unwrap_or_default()
        ));
    }
    !kept.is_empty()
}
