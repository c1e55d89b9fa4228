//! Advisories in the OSV schema (<https://ossf.github.io/osv-schema/>): read from granted
//! directories (one JSON file per advisory, any layout: an osv.dev export unzipped, GitHub's
//! advisory database, RustSec's `osv` branch), kept only for the packages being audited, and matched
//! against versions with OSV's rules: `SEMVER` and `ECOSYSTEM` ranges evaluated event by event
//! (`introduced`, `fixed`, `last_affected`; `limit` is for git ranges), explicit `versions`, and
//! withdrawn advisories skipped.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;

use crate::ecosystem::{Ecosystem, Version};
use guest_support::{Skipped, io_error};
use tandem_sdk::AgentError;

/// The largest advisory file read (GitHub's largest are a few hundred KB).
const MAX_ADVISORY_BYTES: u64 = 8 * 1024 * 1024;
/// The most files looked at under the advisory directories (osv.dev's full export is ~500k).
const MAX_ADVISORY_FILES: usize = 3_000_000;

#[derive(Deserialize, Debug, Clone)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct SeverityEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Affected {
    pub package: Option<PackageRef>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct PackageRef {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Deserialize, Debug, Clone, Default)]
pub struct Event {
    pub introduced: Option<String>,
    pub fixed: Option<String>,
    pub last_affected: Option<String>,
}

/// How bad an advisory is, on the CVSS qualitative scale.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    fn of_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    fn of_label(label: &str) -> Severity {
        match label.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "moderate" | "medium" => Severity::Medium,
            "low" => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    /// A representative CVSS score for a label, when the advisory gives no vector.
    pub fn nominal_score(self) -> f64 {
        match self {
            Severity::Critical => 9.5,
            Severity::High => 8.0,
            Severity::Medium => 5.5,
            Severity::Low => 2.5,
            Severity::Unknown => 5.0,
        }
    }
}

/// The CVSS vector and the base score computed from it (v3.x by the `cvss` crate; v4 vectors are
/// reported without a computed score).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Cvss {
    pub vector: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl Advisory {
    /// One line about it: the summary, else the first line of the details.
    pub fn title(&self) -> String {
        let text = self
            .summary
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .or(self.details.as_deref())
            .unwrap_or("");
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        line.trim()
            .trim_start_matches('#')
            .trim()
            .chars()
            .take(300)
            .collect()
    }

    /// The CVSS vector (v3 preferred) and the severity it or the database gives.
    pub fn severity(&self) -> (Severity, Option<Cvss>) {
        let mut vectors: Vec<&str> = self.severity.iter().map(|s| s.score.as_str()).collect();
        for affected in &self.affected {
            if let Some(v) = affected
                .database_specific
                .as_ref()
                .and_then(|d| d.get("cvss"))
                .and_then(Value::as_str)
            {
                vectors.push(v);
            }
        }
        vectors.sort_by_key(|v| !v.starts_with("CVSS:3"));
        let label = self
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity"))
            .and_then(Value::as_str)
            .map(Severity::of_label);
        if let Some(vector) = vectors.first() {
            let score = cvss::v3::Base::from_str(vector)
                .ok()
                .map(|base| base.score().value());
            let severity = score
                .map(Severity::of_score)
                .or(label)
                .unwrap_or(Severity::Unknown);
            return (
                severity,
                Some(Cvss {
                    vector: vector.to_string(),
                    score,
                }),
            );
        }
        (label.unwrap_or(Severity::Unknown), None)
    }

    /// RustSec's informational kinds (`unmaintained`, `unsound`, `notice`): warnings, not
    /// vulnerabilities, as `cargo audit` reports them.
    pub fn informational(&self) -> Option<String> {
        self.affected.iter().find_map(|a| {
            a.database_specific
                .as_ref()?
                .get("informational")?
                .as_str()
                .map(str::to_string)
        })
    }
}

/// Whether `version` is affected by `affected`, and if so the first version that fixes it.
pub fn affects(
    ecosystem: Ecosystem,
    affected: &Affected,
    raw: &str,
    version: &Version,
) -> Option<Option<String>> {
    let mut hit = affected
        .versions
        .iter()
        .any(|v| v == raw || ecosystem.version(v).is_ok_and(|parsed| parsed == *version));
    let mut fixed: Option<(Version, String)> = None;
    for range in &affected.ranges {
        if range.kind != "SEMVER" && range.kind != "ECOSYSTEM" {
            continue;
        }
        let Some(events) = parse_events(ecosystem, &range.events) else {
            continue;
        };
        if in_range(&events, version) {
            hit = true;
            let next = events
                .iter()
                .filter_map(|(kind, v, text)| {
                    (*kind == EventKind::Fixed && v > version).then_some((v, text))
                })
                .min_by(|a, b| a.0.cmp(b.0));
            if let Some((v, text)) = next
                && fixed.as_ref().is_none_or(|(f, _)| v < f)
            {
                fixed = Some((v.clone(), text.clone()));
            }
        }
    }
    hit.then(|| fixed.map(|(_, text)| text))
}

/// Whether some version a requirement allows is affected: the candidates are the range's own
/// boundaries and the requirement's (a version where a range opens is its first affected one).
pub fn may_affect(
    affected: &Affected,
    allows: &pep440_rs::VersionSpecifiers,
) -> Option<Option<String>> {
    let mut candidates: Vec<String> = allows.iter().map(|s| s.version().to_string()).collect();
    for range in &affected.ranges {
        for event in &range.events {
            candidates.extend(event.introduced.iter().cloned());
            candidates.extend(event.last_affected.iter().cloned());
        }
    }
    candidates.extend(affected.versions.iter().cloned());
    candidates.into_iter().find_map(|text| {
        let pep = pep440_rs::Version::from_str(&text).ok()?;
        if !allows.contains(&pep) {
            return None;
        }
        affects(Ecosystem::PyPi, affected, &text, &Version::Pep440(pep))
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
}

fn parse_events(
    ecosystem: Ecosystem,
    events: &[Event],
) -> Option<Vec<(EventKind, Version, String)>> {
    let mut parsed = Vec::with_capacity(events.len());
    for event in events {
        for (kind, text) in [
            (EventKind::Introduced, &event.introduced),
            (EventKind::Fixed, &event.fixed),
            (EventKind::LastAffected, &event.last_affected),
        ] {
            if let Some(text) = text {
                let version = match (ecosystem, text.as_str()) {
                    (Ecosystem::PyPi, "0") => Version::Semver(semver::Version::new(0, 0, 0), true),
                    _ => ecosystem.version(text).ok()?,
                };
                parsed.push((kind, version, text.clone()));
            }
        }
    }
    parsed.sort_by(|a, b| a.1.cmp(&b.1));
    Some(parsed)
}

/// OSV's evaluation: walk the sorted events; an `introduced` at or below the version opens the
/// range, a `fixed` at or below it closes it, a `last_affected` below it closes it.
fn in_range(events: &[(EventKind, Version, String)], version: &Version) -> bool {
    let mut affected = false;
    for (kind, at, _) in events {
        match kind {
            EventKind::Introduced if version >= at => affected = true,
            EventKind::Fixed if version >= at => affected = false,
            EventKind::LastAffected if version > at => affected = false,
            _ => {}
        }
    }
    affected
}

/// The advisories that name the packages being audited.
#[derive(Default)]
pub struct Database {
    /// By ecosystem and normalised package name.
    pub by_package: HashMap<(Ecosystem, String), Vec<usize>>,
    pub advisories: Vec<Advisory>,
    /// Advisory files read.
    pub files: usize,
    /// Withdrawn advisories left out.
    pub withdrawn: usize,
    /// Files that are not OSV advisories.
    pub skipped: Vec<Skipped>,
}

impl Database {
    /// Reads every `*.json` under `dirs`, keeping the advisories about `wanted` packages.
    pub fn load(
        dirs: &[String],
        wanted: &HashSet<(Ecosystem, String)>,
    ) -> Result<Database, AgentError> {
        let mut db = Database::default();
        for dir in dirs {
            let meta = std::fs::metadata(dir).map_err(|e| io_error(dir, &e))?;
            if meta.is_dir() {
                db.walk(dir, wanted);
            } else {
                db.read(dir, meta.len(), wanted);
            }
        }
        Ok(db)
    }

    fn walk(&mut self, dir: &str, wanted: &HashSet<(Ecosystem, String)>) {
        let mut entries: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.filter_map(Result::ok).collect(),
            Err(e) => return self.skip(dir, e.to_string()),
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && !name.starts_with('.') {
                self.walk(&path, wanted);
            } else if kind.is_file() && name.ends_with(".json") {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                self.read(&path, len, wanted);
            } else if kind.is_file() && name.starts_with("RUSTSEC-") && name.ends_with(".md") {
                self.skip(
                    &path,
                    "RustSec's Markdown format: use the database's `osv` branch (OSV JSON)".into(),
                );
            }
        }
    }

    fn read(&mut self, path: &str, len: u64, wanted: &HashSet<(Ecosystem, String)>) {
        if self.files >= MAX_ADVISORY_FILES {
            return self.skip(
                path,
                format!("past the limit of {MAX_ADVISORY_FILES} advisory files"),
            );
        }
        if len > MAX_ADVISORY_BYTES {
            return self.skip(
                path,
                format!("{len} bytes: larger than {MAX_ADVISORY_BYTES}"),
            );
        }
        self.files += 1;
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return self.skip(path, e.to_string()),
        };
        let mut advisory: Advisory = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => return self.skip(path, format!("not an OSV advisory: {e}")),
        };
        if advisory.withdrawn.is_some() {
            self.withdrawn += 1;
            return;
        }
        let keys: Vec<(Ecosystem, String)> = advisory
            .affected
            .iter()
            .filter_map(|a| {
                let p = a.package.as_ref()?;
                let ecosystem = Ecosystem::from_osv(&p.ecosystem)?;
                Some(
                    ecosystem
                        .candidates(&p.name)
                        .into_iter()
                        .map(move |name| (ecosystem, name)),
                )
            })
            .flatten()
            .filter(|key| wanted.contains(key))
            .collect();
        if keys.is_empty() {
            return;
        }
        // Keep what a finding needs: a title, not pages of details.
        let title = advisory.title();
        advisory.summary = Some(title);
        advisory.details = None;
        let index = self.advisories.len();
        self.advisories.push(advisory);
        for key in keys {
            let list = self.by_package.entry(key).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
    }

    fn skip(&mut self, path: &str, reason: String) {
        self.skipped.push(Skipped {
            file: path.to_string(),
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affected(kind: &str, events: &[(&str, &str)]) -> Affected {
        Affected {
            package: None,
            ranges: vec![Range {
                kind: kind.into(),
                events: events
                    .iter()
                    .map(|(k, v)| {
                        let mut e = Event::default();
                        let v = Some(v.to_string());
                        match *k {
                            "introduced" => e.introduced = v,
                            "fixed" => e.fixed = v,
                            _ => e.last_affected = v,
                        }
                        e
                    })
                    .collect(),
            }],
            versions: vec![],
            database_specific: None,
        }
    }

    fn check(eco: Ecosystem, a: &Affected, v: &str) -> Option<Option<String>> {
        affects(eco, a, v, &eco.version(v).unwrap())
    }

    #[test]
    fn range_edges() {
        let a = affected("ECOSYSTEM", &[("introduced", "2.3.0"), ("fixed", "2.31.0")]);
        assert_eq!(check(Ecosystem::PyPi, &a, "2.2.9"), None);
        assert_eq!(
            check(Ecosystem::PyPi, &a, "2.3"),
            Some(Some("2.31.0".into()))
        );
        assert_eq!(
            check(Ecosystem::PyPi, &a, "2.30.99"),
            Some(Some("2.31.0".into()))
        );
        assert_eq!(check(Ecosystem::PyPi, &a, "2.31.0"), None);
        assert_eq!(
            check(Ecosystem::PyPi, &a, "2.31.0rc1"),
            Some(Some("2.31.0".into()))
        );
        let last = affected("SEMVER", &[("introduced", "0"), ("last_affected", "1.4.0")]);
        assert_eq!(check(Ecosystem::CratesIo, &last, "1.4.0"), Some(None));
        assert_eq!(check(Ecosystem::CratesIo, &last, "1.4.1"), None);
        // RustSec's "every version but the patched ones" shape.
        let holes = affected(
            "SEMVER",
            &[
                ("introduced", "0.0.0-0"),
                ("fixed", "0.2.0"),
                ("introduced", "0.2.7"),
                ("fixed", "0.2.23"),
            ],
        );
        assert_eq!(
            check(Ecosystem::CratesIo, &holes, "0.1.45"),
            Some(Some("0.2.0".into()))
        );
        assert_eq!(check(Ecosystem::CratesIo, &holes, "0.2.3"), None);
        assert_eq!(
            check(Ecosystem::CratesIo, &holes, "0.2.22"),
            Some(Some("0.2.23".into()))
        );
        assert_eq!(check(Ecosystem::CratesIo, &holes, "0.3.0"), None);
    }

    #[test]
    fn unpinned_requirements_may_be_affected() {
        let a = affected("ECOSYSTEM", &[("introduced", "0"), ("fixed", "5.4")]);
        let spec = |s| pep440_rs::VersionSpecifiers::from_str(s).unwrap();
        assert!(may_affect(&a, &spec(">=5.1,<6")).is_some());
        assert!(may_affect(&a, &spec(">=5.4")).is_none());
        assert!(may_affect(&a, &spec("")).is_some());
    }
}
