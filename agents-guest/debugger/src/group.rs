//! Grouping crashes as error trackers do: one [`Signature`] per crash, made of its exception type and
//! its top in-app frames (function and file, normalised: no addresses, no line numbers, no build
//! hashes), the innermost frames when none is in-app; crashes with the same signature are one
//! [`Group`] with a count and the first and last time it was seen.

use std::collections::HashMap;

use serde::Serialize;

use crate::crash::{Crash, Frame, Language, normalise_function};

/// Frames a signature is made of.
pub const SIGNATURE_FRAMES: usize = 3;

/// What crashes of one group share.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The first 16 hex digits of the SHA-256 of the signature's text: stable across runs and
    /// machines, as a key for a tracker.
    pub fingerprint: String,
    pub language: Language,
    #[serde(rename = "type")]
    pub kind: String,
    /// The frames the signature is made of: `function (file)`.
    pub frames: Vec<String>,
    pub count: usize,
    /// The message of the first crash of the group.
    pub message: String,
    /// The first and last timestamps seen (when the crashes carry one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Where each crash of the group is: `source:line`.
    pub occurrences: Vec<String>,
}

/// The signature of a crash: its type and frames, each `function (file)`.
pub fn signature(crash: &Crash) -> (String, Vec<String>) {
    let in_app: Vec<&Frame> = crash.frames.iter().filter(|f| f.in_app).collect();
    let chosen: Vec<&Frame> = if in_app.is_empty() {
        crash.frames.iter().take(SIGNATURE_FRAMES).collect()
    } else {
        in_app.into_iter().take(SIGNATURE_FRAMES).collect()
    };
    let frames = chosen
        .iter()
        .map(|f| {
            let function = normalise_function(&f.function);
            match f.file.as_deref().map(file_name) {
                Some(file) if !function.is_empty() => format!("{function} ({file})"),
                Some(file) => file.to_string(),
                None => function,
            }
        })
        .collect();
    (crash.kind.clone(), frames)
}

/// A file's name without its directory, so the same code built or run elsewhere groups together.
fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The crashes grouped, the largest group first (then the earliest).
pub fn group(crashes: &[Crash]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for crash in crashes {
        let (kind, frames) = signature(crash);
        let language = crash.language.name();
        let parts: Vec<&str> = [language, kind.as_str()]
            .into_iter()
            .chain(frames.iter().map(String::as_str))
            .collect();
        let fingerprint = guest_support::fingerprint(&parts);
        let at = *index.entry(fingerprint.clone()).or_insert_with(|| {
            groups.push(Group {
                fingerprint,
                language: crash.language,
                kind,
                frames,
                count: 0,
                message: crash.message.clone(),
                first_seen: None,
                last_seen: None,
                occurrences: Vec::new(),
            });
            groups.len() - 1
        });
        let group = &mut groups[at];
        group.count += 1;
        group
            .occurrences
            .push(format!("{}:{}", crash.source, crash.line));
        if let Some(time) = &crash.time {
            if group.first_seen.as_ref().is_none_or(|t| time < t) {
                group.first_seen = Some(time.clone());
            }
            if group.last_seen.as_ref().is_none_or(|t| time > t) {
                group.last_seen = Some(time.clone());
            }
        }
    }
    // A stable sort: equal counts stay in the order first seen.
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    groups
}
