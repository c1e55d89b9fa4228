//! `audit-deps`: every package of every lockfile matched against the advisories, advisories that
//! are one issue under several ids (a RUSTSEC and its GHSA, aliases of one CVE) merged into one
//! finding, and the upgrade that clears each package.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use serde::Serialize;

use crate::ecosystem::Ecosystem;
use crate::lockfile::{LockError, Package};
use crate::osv::{self, Cvss, Database, Severity};

/// One advisory (with its aliases) that affects one package of one lockfile.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "kebab-case")]
pub struct Finding {
    pub package: String,
    pub ecosystem: Ecosystem,
    /// The installed version; absent for a requirement that is not pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// For a requirement that is not pinned: what it allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allows: Option<String>,
    pub file: String,
    pub line: usize,
    /// The advisory's id (the ecosystem's own database first: RUSTSEC, PYSEC, GO; then GHSA).
    pub id: String,
    /// Its other ids: CVE, GHSA, the ids of advisories merged into this one.
    pub aliases: Vec<String>,
    pub summary: String,
    /// `vulnerability`, or RustSec's informational kinds `unmaintained`, `unsound`, `notice`.
    pub kind: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    /// The first version that fixes it, if there is one.
    pub fixed: Option<String>,
    /// `certain` for an installed version; `possible` for a requirement that allows affected
    /// versions and others.
    pub confidence: &'static str,
    pub url: String,
}

/// The upgrade that clears every advisory found for a package.
#[derive(Serialize, Clone, Debug)]
pub struct Upgrade {
    pub package: String,
    pub ecosystem: Ecosystem,
    pub from: String,
    /// The lowest version that fixes them all; `None` when one has no fix.
    pub to: Option<String>,
    pub advisories: usize,
}

/// Per-severity counts.
#[derive(Serialize, Default, Clone, Debug)]
pub struct Counts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub unknown: usize,
    /// Informational advisories (unmaintained, unsound, notice).
    pub warnings: usize,
}

/// Matches every package against the database.
pub fn matches(packages: &[Package], db: &Database) -> Vec<Finding> {
    let mut findings = Vec::new();
    for package in packages {
        let key = (
            package.ecosystem,
            package.ecosystem.normalize(&package.name),
        );
        let Some(indices) = db.by_package.get(&key) else {
            continue;
        };
        let mut hits: Vec<Hit> = Vec::new();
        for &index in indices {
            let advisory = &db.advisories[index];
            let mut hit: Option<Option<String>> = None;
            for affected in &advisory.affected {
                let Some(p) = &affected.package else { continue };
                if Ecosystem::from_osv(&p.ecosystem) != Some(package.ecosystem)
                    || !package.ecosystem.covers(&p.name, &key.1)
                {
                    continue;
                }
                let result = match (&package.version, &package.allows) {
                    (Some(raw), _) => match package.ecosystem.version(raw) {
                        Ok(version) => osv::affects(package.ecosystem, affected, raw, &version),
                        Err(_) => None,
                    },
                    (None, Some(allows)) => pep440_rs::VersionSpecifiers::from_str(allows)
                        .ok()
                        .and_then(|spec| osv::may_affect(affected, &spec)),
                    (None, None) => None,
                };
                if let Some(fixed) = result {
                    hit = Some(match (hit.flatten(), fixed) {
                        (Some(a), Some(b)) => Some(pick(package.ecosystem, a, b, Ordering::Less)),
                        (a, b) => a.or(b),
                    });
                }
            }
            if let Some(fixed) = hit {
                hits.push((index, fixed));
            }
        }
        findings.extend(merge(package, db, hits));
    }
    findings
}

/// Of two versions, `b` when it is `wanted` (`Less`: lower, `Greater`: higher) than `a` in the
/// ecosystem's order; `a` otherwise, and when either does not parse.
fn pick(ecosystem: Ecosystem, a: String, b: String, wanted: Ordering) -> String {
    match (ecosystem.version(&a), ecosystem.version(&b)) {
        (Ok(x), Ok(y)) if y.partial_cmp(&x) == Some(wanted) => b,
        _ => a,
    }
}

/// The rank of an id as the primary one: the ecosystem's database, then GitHub's, then CVE.
fn id_rank(id: &str) -> u8 {
    match id.split('-').next().unwrap_or("") {
        "RUSTSEC" | "PYSEC" | "GO" => 0,
        "GHSA" => 1,
        "CVE" => 3,
        _ => 2,
    }
}

/// An advisory (by index) that hits a package, with the first version that fixes it.
type Hit = (usize, Option<String>);

/// Merges the advisories hitting one package that share an id or alias.
fn merge(package: &Package, db: &Database, hits: Vec<Hit>) -> Vec<Finding> {
    let mut groups: Vec<(HashSet<String>, Vec<Hit>)> = Vec::new();
    for (index, fixed) in hits {
        let advisory = &db.advisories[index];
        let ids: HashSet<String> = std::iter::once(advisory.id.clone())
            .chain(advisory.aliases.iter().cloned())
            .collect();
        let mut joined: Option<usize> = None;
        let mut g = 0;
        while g < groups.len() {
            if groups[g].0.is_disjoint(&ids) {
                g += 1;
                continue;
            }
            match joined {
                None => {
                    groups[g].0.extend(ids.iter().cloned());
                    groups[g].1.push((index, fixed.clone()));
                    joined = Some(g);
                    g += 1;
                }
                Some(first) => {
                    let (set, members) = groups.remove(g);
                    groups[first].0.extend(set);
                    groups[first].1.extend(members);
                }
            }
        }
        if joined.is_none() {
            groups.push((ids, vec![(index, fixed)]));
        }
    }
    groups
        .into_iter()
        .map(|(ids, members)| {
            let mut primary = members
                .iter()
                .map(|(i, _)| &db.advisories[*i])
                .min_by_key(|a| (id_rank(&a.id), a.id.clone()))
                .expect("a group has members");
            let mut severity = Severity::Unknown;
            let mut cvss = None;
            let mut fixed: Option<String> = None;
            for (i, f) in &members {
                let (s, c) = db.advisories[*i].severity();
                if s > severity || (cvss.is_none() && c.is_some() && s == severity) {
                    severity = s;
                    cvss = c;
                }
                if let Some(f) = f {
                    fixed = Some(match fixed {
                        Some(old) => pick(package.ecosystem, old, f.clone(), Ordering::Greater),
                        None => f.clone(),
                    });
                }
            }
            if primary.summary.as_deref().unwrap_or("").is_empty() {
                primary = &db.advisories[members[0].0];
            }
            let mut aliases: Vec<String> = ids.into_iter().filter(|i| *i != primary.id).collect();
            aliases.sort();
            Finding {
                package: package.name.clone(),
                ecosystem: package.ecosystem,
                version: package.version.clone(),
                allows: package.allows.clone(),
                file: package.file.clone(),
                line: package.line,
                id: primary.id.clone(),
                aliases,
                summary: primary.summary.clone().unwrap_or_default(),
                kind: primary
                    .informational()
                    .unwrap_or_else(|| "vulnerability".into()),
                severity,
                cvss,
                fixed,
                confidence: if package.version.is_some() {
                    "certain"
                } else {
                    "possible"
                },
                url: format!("https://osv.dev/vulnerability/{}", primary.id),
            }
        })
        .collect()
}

/// The upgrade per package (and lockfile) that clears all of its findings.
pub fn upgrades(findings: &[Finding]) -> Vec<Upgrade> {
    let mut by_package: BTreeMap<(String, String, String), Upgrade> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.kind == "vulnerability") {
        let from = f.version.clone().or(f.allows.clone()).unwrap_or_default();
        let key = (
            f.ecosystem.osv_name().to_string(),
            f.package.clone(),
            from.clone(),
        );
        let entry = by_package.entry(key).or_insert_with(|| Upgrade {
            package: f.package.clone(),
            ecosystem: f.ecosystem,
            from,
            to: f.fixed.clone(),
            advisories: 0,
        });
        if entry.advisories > 0 {
            entry.to = match (entry.to.take(), &f.fixed) {
                (Some(a), Some(b)) => Some(pick(f.ecosystem, a, b.clone(), Ordering::Greater)),
                _ => None,
            };
        }
        entry.advisories += 1;
    }
    by_package.into_values().collect()
}

pub fn counts(findings: &[Finding]) -> Counts {
    let mut c = Counts::default();
    for f in findings {
        if f.kind != "vulnerability" {
            c.warnings += 1;
            continue;
        }
        match f.severity {
            Severity::Critical => c.critical += 1,
            Severity::High => c.high += 1,
            Severity::Medium => c.medium += 1,
            Severity::Low => c.low += 1,
            Severity::Unknown => c.unknown += 1,
        }
    }
    c
}

/// What the lockfiles of a run held.
#[derive(Serialize, Debug, Clone)]
pub struct Lockfile {
    pub file: String,
    pub packages: usize,
}

/// Lockfiles read, packages found, and the files that did not parse.
#[derive(Default)]
pub struct Inventory {
    pub packages: Vec<Package>,
    pub lockfiles: Vec<Lockfile>,
    pub errors: Vec<LockError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osv::Advisory;

    fn advisory(json: &str) -> Advisory {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn one_issue_under_two_ids_is_one_finding() {
        let range = r#""affected": [{"package": {"ecosystem": "crates.io", "name": "time"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.2.23"}]}]}]"#;
        let mut db = Database {
            advisories: vec![
                advisory(&format!(
                    r#"{{"id": "GHSA-wcg3-cvx6-7396", "aliases": ["CVE-2020-26235"], "summary": "from GitHub", {range}, "database_specific": {{"severity": "MODERATE"}}}}"#
                )),
                advisory(&format!(
                    r#"{{"id": "RUSTSEC-2020-0071", "aliases": ["CVE-2020-26235", "GHSA-wcg3-cvx6-7396"], "summary": "from RustSec", "severity": [{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}}], {range}}}"#
                )),
                advisory(&format!(
                    r#"{{"id": "RUSTSEC-2099-0001", "summary": "another issue", {range}}}"#
                )),
            ],
            ..Database::default()
        };
        db.by_package
            .insert((Ecosystem::CratesIo, "time".into()), vec![0, 1, 2]);
        let package = Package {
            ecosystem: Ecosystem::CratesIo,
            name: "time".into(),
            version: Some("0.1.45".into()),
            allows: None,
            file: "Cargo.lock".into(),
            line: 7,
        };
        let found = matches(&[package], &db);
        let ids: Vec<(&str, &Vec<String>)> =
            found.iter().map(|f| (f.id.as_str(), &f.aliases)).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(ids[0].0, "RUSTSEC-2020-0071");
        assert_eq!(
            ids[0].1,
            &vec![
                "CVE-2020-26235".to_string(),
                "GHSA-wcg3-cvx6-7396".to_string()
            ]
        );
        assert_eq!(found[0].summary, "from RustSec");
        assert_eq!(found[0].cvss.as_ref().unwrap().score, Some(6.2));
        assert_eq!(ids[1].0, "RUSTSEC-2099-0001");
        let upgrades = upgrades(&found);
        assert_eq!(
            (
                upgrades.len(),
                upgrades[0].to.as_deref(),
                upgrades[0].advisories
            ),
            (1, Some("0.2.23"), 2)
        );
    }
}
