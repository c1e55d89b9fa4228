//! `debugger`: reads failures. [`parse`] finds every crash in a text (Rust, Python, Node.js, Go,
//! Java, Tandem trap reports; the model is [`crash`]), [`group`] groups them by signature,
//! [`locate`] quotes their frames from a granted source tree, [`explain`] names the cause and a fix
//! for the classes it knows, and [`leak`] tells a memory leak from a plateau.
//!
//! Operations: `parse`, `group`, `locate`, `explain`, `leak-check`.

pub mod crash;
pub mod explain;
pub mod group;
pub mod leak;
pub mod locate;
pub mod parse;

use guest_support::{InlineFile, Skipped, Tree, TreeLimits};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, to_json};

use crash::Crash;

/// Where the crash text comes from; every op but `leak-check` takes these keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TextInput {
    /// Crash text or a log, inline.
    #[serde(default)]
    text: Option<String>,
    /// Log files (or directories of them) in granted directories.
    #[serde(default)]
    paths: Vec<String>,
    /// Inline files, each named.
    #[serde(default)]
    files: Vec<InlineFile>,
    /// `locate`: the granted source tree(s) frames are resolved in.
    #[serde(default)]
    source: Vec<String>,
    /// `locate`: lines quoted each side of a frame's line (default 3, at most 20).
    #[serde(default)]
    context: Option<u32>,
}

/// The crashes found in the input, and what was not read.
struct Found {
    crashes: Vec<Crash>,
    cut_short: bool,
    skipped: Vec<Skipped>,
    sources: Vec<String>,
}

/// Reads the texts the input names and finds the crashes in them.
fn find(input: &TextInput) -> Result<Found, AgentError> {
    if input.text.is_none() && input.paths.is_empty() && input.files.is_empty() {
        return Err(AgentError::invalid(
            "give the crash text as `text`, files in granted directories as `paths`, or inline `files`",
        ));
    }
    let limits = TreeLimits::default();
    let mut tree = Tree::read(&input.paths, limits)?;
    if let Some(text) = &input.text {
        tree.add_inline("text".into(), text.clone(), &limits);
    }
    for file in &input.files {
        tree.add_inline(file.path.clone(), file.content.clone(), &limits);
    }
    let mut found = Found {
        crashes: Vec::new(),
        cut_short: false,
        skipped: tree.skipped,
        sources: Vec::new(),
    };
    for file in &tree.files {
        let (crashes, cut) = parse::scan(&file.path, &file.text);
        found.crashes.extend(crashes);
        found.cut_short |= cut;
        found.sources.push(file.path.clone());
        if found.crashes.len() >= parse::MAX_CRASHES {
            found.cut_short = true;
            found.crashes.truncate(parse::MAX_CRASHES);
            break;
        }
    }
    Ok(found)
}

/// Like [`find`], but at least one crash must be there, and not every one cut off.
fn find_some(input: &TextInput) -> Result<(Found, Vec<String>), AgentError> {
    let found = find(input)?;
    let warnings: Vec<String> = found
        .crashes
        .iter()
        .filter(|c| c.truncated)
        .map(|c| {
            format!(
                "{}:{}: the {} crash there is cut off: its trace ends at line {} before the runtime would have ended it",
                c.source,
                c.line,
                c.language.name(),
                c.end_line
            )
        })
        .collect();
    if found.crashes.is_empty() {
        return Err(AgentError::invalid(format!(
            "no crash found in {} (looked for Rust panics, Python tracebacks, Node.js errors with stacks, Go panics, Java stack traces and Tandem trap reports)",
            if found.sources.is_empty() {
                "the input".to_string()
            } else {
                found.sources.join(", ")
            }
        )));
    }
    if warnings.len() == found.crashes.len() {
        return Err(AgentError::invalid(warnings.join("; ")));
    }
    Ok((found, warnings))
}

#[derive(Serialize)]
struct ParseOutput<'a> {
    crashes: &'a [Crash],
    count: usize,
    /// Crashes that are cut off (a truncated trace).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    /// More than the most crashes read from one input were there.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cut_short: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<Skipped>,
}

fn parse_op(input: TextInput) -> Result<Json, AgentError> {
    let (found, warnings) = find_some(&input)?;
    to_json(&ParseOutput {
        count: found.crashes.len(),
        crashes: &found.crashes,
        warnings,
        cut_short: found.cut_short,
        skipped: found.skipped,
    })
}

fn group_op(input: TextInput) -> Result<Json, AgentError> {
    let found = find(&input)?;
    let groups = group::group(&found.crashes);
    to_json(&json!({
        "groups": groups,
        "crashes": found.crashes.len(),
        "distinct": groups.len(),
        "cut_short": found.cut_short,
        "skipped": found.skipped,
    }))
}

/// The most frames of one crash `locate` quotes.
const MAX_LOCATED_FRAMES: usize = 20;

fn locate_op(input: TextInput) -> Result<Json, AgentError> {
    if input.source.is_empty() {
        return Err(AgentError::invalid(
            "`locate` needs `source`: the granted source tree(s) to find the frames' files in",
        ));
    }
    let context = input.context.unwrap_or(3);
    if context > 20 {
        return Err(AgentError::invalid(format!(
            "`context` is at most 20 lines, not {context}"
        )));
    }
    let (found, warnings) = find_some(&input)?;
    // Only the files the frames name are read from the tree.
    let wanted: std::collections::HashSet<String> = found
        .crashes
        .iter()
        .flat_map(|c| {
            c.frames
                .iter()
                .chain(c.causes.iter().flat_map(|k| k.frames.iter()))
        })
        .filter_map(|f| f.file.as_deref())
        .filter_map(|f| f.rsplit(['/', '\\']).next())
        .map(str::to_string)
        .collect();
    let keep = |path: &str, is_dir: bool| {
        is_dir || wanted.contains(path.rsplit('/').next().unwrap_or(path))
    };
    let tree = Tree::read_where(&input.source, TreeLimits::default(), &keep)?;
    let index = locate::Index::new(&tree.files);
    let crashes: Vec<_> = found
        .crashes
        .iter()
        .map(|crash| {
            let frames: Vec<_> = crash
                .frames
                .iter()
                .chain(crash.causes.iter().flat_map(|c| c.frames.iter()))
                .filter(|f| f.in_app && f.file.is_some())
                .take(MAX_LOCATED_FRAMES)
                .map(|f| locate::locate(&index, f, context))
                .collect();
            json!({
                "type": crash.kind, "message": crash.message, "source": crash.source,
                "line": crash.line, "frames": frames,
            })
        })
        .collect();
    to_json(&json!({ "crashes": crashes, "files": tree.files.len(), "warnings": warnings }))
}

fn explain_op(input: TextInput) -> Result<Json, AgentError> {
    let (found, warnings) = find_some(&input)?;
    let explained: Vec<_> = found
        .crashes
        .iter()
        .map(|crash| {
            let summary = json!({
                "language": crash.language, "type": crash.kind, "message": crash.message,
                "source": crash.source, "line": crash.line,
            });
            match explain::explain(crash) {
                Some(explanation) => json!({ "crash": summary, "explanation": explanation }),
                None => json!({
                    "crash": summary,
                    "explanation": null,
                    "note": "not an error class this agent recognises; `locate` quotes where it happened",
                }),
            }
        })
        .collect();
    let recognised = explained
        .iter()
        .filter(|e| !e["explanation"].is_null())
        .count();
    to_json(&json!({ "crashes": explained, "recognised": recognised, "warnings": warnings }))
}

struct Debugger;

impl Agent for Debugger {
    fn describe() -> AgentInfo {
        AgentInfo::new("debugger", "Reads failures: crash texts into frames, grouped, located, explained; memory leaks from samples")
            .operation(
                Operation::new("parse", "Every crash in a text or log (Rust, Python, Node.js, Go, Java, Tandem traps) as structured frames")
                    .example(json!({"text": "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    d['port']\nKeyError: 'port'\n"})),
            )
            .operation(
                Operation::new("group", "Crashes grouped by signature (type and top in-app frames), with counts and first/last seen")
                    .example(json!({"paths": ["logs"]})),
            )
            .operation(
                Operation::new("locate", "The in-app frames of each crash resolved in a granted source tree and quoted")
                    .example(json!({"paths": ["crash.txt"], "source": ["src"], "context": 3})),
            )
            .operation(
                Operation::new("explain", "The cause and a fix, naming the frame, for the error classes it recognises")
                    .example(json!({"text": "error[fuel-exhausted]: indexer.scan: used up its fuel (500000000 units)"})),
            )
            .operation(
                Operation::new("leak-check", "Leak or plateau, from (time, bytes) samples: Theil-Sen and least-squares growth per hour, Mann-Kendall confidence")
                    .example(json!({"samples": [[0, 100], [60, 110], [120, 120], [180, 130], [240, 140], [300, 150]]})),
            )
            .capability("files:read")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "parse" => parse_op(task.input()?),
            "group" => group_op(task.input()?),
            "locate" => locate_op(task.input()?),
            "explain" => explain_op(task.input()?),
            "leak-check" => to_json(&leak::check(&task.input()?)?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Debugger);
