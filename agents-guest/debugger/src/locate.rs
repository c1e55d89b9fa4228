//! Resolving frames to a granted source tree: each in-app frame's file is matched to the tree's file
//! whose path shares the longest run of trailing components with it (a trace printed on a build
//! machine, `/build/app/src/db.rs`, finds `src/db.rs` of a checkout), and the lines around the
//! frame's line are quoted.

use std::collections::HashMap;

use guest_support::SourceFile;
use serde::Serialize;

use crate::crash::Frame;

/// A frame found in the tree.
#[derive(Debug, Serialize)]
pub struct Located {
    pub function: String,
    /// The path in the trace, and the tree's file it resolved to.
    pub trace_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The lines around it, each `{"line": n, "text": ..., "current": bool}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quote: Vec<Quoted>,
    /// Why it was not quoted: no file in the tree matches, several do equally well, or the line is
    /// past the file's end (the tree is not the code that crashed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Quoted {
    pub line: u32,
    pub text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub current: bool,
}

/// The tree's files by name, to match trace paths against.
pub struct Index<'a> {
    by_name: HashMap<&'a str, Vec<&'a SourceFile>>,
}

fn components(path: &str) -> Vec<&str> {
    path.split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

impl<'a> Index<'a> {
    pub fn new(files: &'a [SourceFile]) -> Index<'a> {
        let mut by_name: HashMap<&str, Vec<&SourceFile>> = HashMap::new();
        for file in files {
            if let Some(name) = components(&file.path).last() {
                by_name.entry(name).or_default().push(file);
            }
        }
        Index { by_name }
    }

    /// The tree's file a trace path names, or why there is none.
    pub fn resolve(&self, trace_path: &str) -> Result<&'a SourceFile, String> {
        let wanted = components(trace_path);
        let Some(name) = wanted.last() else {
            return Err("the frame names no file".into());
        };
        let candidates = self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let shared = |file: &SourceFile| {
            components(&file.path)
                .iter()
                .rev()
                .zip(wanted.iter().rev())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let best = candidates.iter().map(|f| shared(f)).max().unwrap_or(0);
        let top: Vec<&&SourceFile> = candidates.iter().filter(|f| shared(f) == best).collect();
        match top.as_slice() {
            [] => Err(format!("no file named `{name}` in the tree")),
            [one] => Ok(one),
            many => Err(format!(
                "{} files match `{trace_path}` equally well: {}",
                many.len(),
                many.iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// A frame resolved in the index and quoted with `context` lines each side.
pub fn locate(index: &Index<'_>, frame: &Frame, context: u32) -> Located {
    let trace_file = frame.file.clone().unwrap_or_default();
    let mut located = Located {
        function: frame.function.clone(),
        trace_file: trace_file.clone(),
        file: None,
        line: frame.line,
        quote: Vec::new(),
        problem: None,
    };
    let file = match index.resolve(&trace_file) {
        Ok(file) => file,
        Err(problem) => {
            located.problem = Some(problem);
            return located;
        }
    };
    located.file = Some(file.path.clone());
    let Some(line) = frame.line else {
        located.problem = Some("the frame has no line number".into());
        return located;
    };
    let lines: Vec<&str> = file.text.lines().collect();
    if line == 0 || line as usize > lines.len() {
        located.problem = Some(format!(
            "line {line} is past the end of {} ({} lines): the tree is not the code that crashed",
            file.path,
            lines.len()
        ));
        return located;
    }
    let first = line.saturating_sub(context).max(1);
    let last = (line + context).min(lines.len() as u32);
    located.quote = (first..=last)
        .map(|n| Quoted {
            line: n,
            text: lines[n as usize - 1].to_string(),
            current: n == line,
        })
        .collect();
    located
}
