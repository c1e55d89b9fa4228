//! `correlate-logs`: incidents in OpenSSH `auth.log` (syslog or ISO timestamps) and nginx/Apache
//! combined access logs. Per source address, over a sliding window: `brute-force` (failed logins
//! from one source), `password-spraying` (failed logins for many distinct users from one source),
//! `path-scanning` (404s for many distinct paths from one source), and `login-after-failures` (a
//! successful login from a source that was already reported). Each incident cites its evidence
//! lines (the first 20) with file and line number. Lines that are neither format are counted as
//! `unparsed`, never guessed at.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use guest_support::time::days_from_civil;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Thresholds and window, all optional.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Thresholds {
    /// The sliding window, in seconds (default 600).
    pub window_seconds: u64,
    /// Failed logins from one source within the window (default 5).
    pub failed_logins: usize,
    /// Distinct users tried from one source within the window (default 5).
    pub sprayed_users: usize,
    /// Distinct paths answered 404 to one source within the window (default 20).
    pub not_found_paths: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            window_seconds: 600,
            failed_logins: 5,
            sprayed_users: 5,
            not_found_paths: 20,
        }
    }
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), String> {
        if self.window_seconds == 0 || self.window_seconds > 30 * 86_400 {
            return Err("`thresholds.window-seconds` must be 1 to 2592000 (30 days)".into());
        }
        for (key, value) in [
            ("failed-logins", self.failed_logins),
            ("sprayed-users", self.sprayed_users),
            ("not-found-paths", self.not_found_paths),
        ] {
            if value < 2 {
                return Err(format!("`thresholds.{key}` must be at least 2"));
            }
        }
        Ok(())
    }
}

/// One line cited as evidence.
#[derive(Serialize, Debug, Clone)]
pub struct Evidence {
    pub file: String,
    pub line: usize,
    pub text: String,
}

/// An incident.
#[derive(Serialize, Debug)]
pub struct Incident {
    pub kind: &'static str,
    pub severity: &'static str,
    pub source: String,
    /// First and last event, as written in the log.
    pub first_seen: String,
    pub last_seen: String,
    pub events: usize,
    /// Users tried (logins) or paths probed (404s), distinct, sorted, at most 50.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    pub evidence: Vec<Evidence>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Failed,
    Accepted,
    NotFound,
}

#[derive(Clone, Debug)]
struct Event {
    time: i64,
    stamp: String,
    kind: Kind,
    source: String,
    target: String,
    evidence: Evidence,
}

/// What was read.
#[derive(Serialize, Default, Debug)]
pub struct LogSummary {
    pub lines: usize,
    pub auth_events: usize,
    pub web_requests: usize,
    pub unparsed: usize,
}

fn sshd() -> &'static Regex {
    static CELL: OnceLock<Regex> = OnceLock::new();
    CELL.get_or_init(|| {
        Regex::new(r"^(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) \S+ sshd(?:-session)?\[\d+\]: (?P<what>Failed (?:password|publickey|keyboard-interactive/pam) for (?:invalid user )?(?P<user>\S*) from (?P<ip>\S+)|Invalid user (?P<iuser>\S*) from (?P<iip>\S+)|Accepted (?:password|publickey|keyboard-interactive/pam) for (?P<auser>\S+) from (?P<aip>\S+))").expect("valid")
    })
}

fn combined() -> &'static Regex {
    static CELL: OnceLock<Regex> = OnceLock::new();
    CELL.get_or_init(|| Regex::new(r#"^(?P<ip>\S+) \S+ \S+ \[(?P<stamp>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+)[^"]*" (?P<status>\d{3}) "#).expect("valid"))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds of a timestamp in either log's format; syslog stamps have no year (year 1970 is used,
/// which keeps their order within a file).
fn seconds(stamp: &str) -> Option<i64> {
    let num = |s: &str| s.trim().parse::<i64>().ok();
    if let Some(month) = MONTHS.iter().position(|m| stamp.starts_with(m)) {
        // "Mar  5 10:00:01"
        let day = num(&stamp[4..6])?;
        let (h, m, s) = (
            num(&stamp[7..9])?,
            num(&stamp[10..12])?,
            num(&stamp[13..15])?,
        );
        return Some(days_from_civil(1970, month as i64 + 1, day) * 86_400 + h * 3600 + m * 60 + s);
    }
    if stamp.len() >= 19 && stamp.as_bytes()[4] == b'-' {
        // ISO 8601
        let (y, mo, d) = (num(&stamp[0..4])?, num(&stamp[5..7])?, num(&stamp[8..10])?);
        let (h, m, s) = (
            num(&stamp[11..13])?,
            num(&stamp[14..16])?,
            num(&stamp[17..19])?,
        );
        return Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + m * 60 + s);
    }
    // "10/Oct/2000:13:55:36 -0700"
    let month = MONTHS.iter().position(|m| stamp.get(3..6) == Some(*m))? as i64 + 1;
    let (d, y) = (num(stamp.get(0..2)?)?, num(stamp.get(7..11)?)?);
    let (h, m, s) = (
        num(stamp.get(12..14)?)?,
        num(stamp.get(15..17)?)?,
        num(stamp.get(18..20)?)?,
    );
    let offset = stamp
        .get(21..26)
        .and_then(|z| {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            Some(sign * (num(&z[1..3])? * 3600 + num(&z[3..5])? * 60))
        })
        .unwrap_or(0);
    Some(days_from_civil(y, month, d) * 86_400 + h * 3600 + m * 60 + s - offset)
}

fn parse(file: &str, text: &str, summary: &mut LogSummary) -> Vec<Event> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        summary.lines += 1;
        let evidence = || Evidence {
            file: file.to_string(),
            line: i + 1,
            text: line.chars().take(300).collect(),
        };
        if let Some(c) = sshd().captures(line) {
            let stamp = c["stamp"].to_string();
            let Some(time) = seconds(&stamp) else {
                summary.unparsed += 1;
                continue;
            };
            let (kind, user, ip) = if let Some(user) = c.name("user") {
                (Kind::Failed, user.as_str(), &c["ip"])
            } else if let Some(user) = c.name("iuser") {
                (Kind::Failed, user.as_str(), &c["iip"])
            } else {
                (Kind::Accepted, &c["auser"], &c["aip"])
            };
            summary.auth_events += 1;
            events.push(Event {
                time,
                stamp,
                kind,
                source: ip.to_string(),
                target: user.to_string(),
                evidence: evidence(),
            });
        } else if let Some(c) = combined().captures(line) {
            summary.web_requests += 1;
            let stamp = c["stamp"].to_string();
            let Some(time) = seconds(&stamp) else {
                summary.unparsed += 1;
                continue;
            };
            if &c["status"] == "404" {
                events.push(Event {
                    time,
                    stamp,
                    kind: Kind::NotFound,
                    source: c["ip"].to_string(),
                    target: c["path"].to_string(),
                    evidence: evidence(),
                });
            }
        } else if !line.trim().is_empty() && !line.contains(" sshd[") {
            summary.unparsed += 1;
        }
    }
    events
}

/// Reads every log and reports the incidents, sorted by first event.
pub fn correlate(files: &[(String, String)], t: &Thresholds) -> (Vec<Incident>, LogSummary) {
    let mut summary = LogSummary::default();
    let mut by_source: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for (file, text) in files {
        for event in parse(file, text, &mut summary) {
            by_source
                .entry(event.source.clone())
                .or_default()
                .push(event);
        }
    }
    let mut incidents = Vec::new();
    for (source, mut events) in by_source {
        events.sort_by_key(|e| e.time);
        let failed: Vec<&Event> = events.iter().filter(|e| e.kind == Kind::Failed).collect();
        let not_found: Vec<&Event> = events.iter().filter(|e| e.kind == Kind::NotFound).collect();
        let mut login_bursts = Vec::new();
        for burst in bursts(&failed, t.window_seconds, |w| w.len() >= t.failed_logins) {
            login_bursts.push((burst.first().unwrap().time, burst.last().unwrap().time));
            incidents.push(incident("brute-force", "high", &source, &burst));
        }
        for burst in bursts(&failed, t.window_seconds, |w| {
            distinct(w) >= t.sprayed_users
        }) {
            incidents.push(incident("password-spraying", "high", &source, &burst));
        }
        for burst in bursts(&not_found, t.window_seconds, |w| {
            distinct(w) >= t.not_found_paths
        }) {
            incidents.push(incident("path-scanning", "medium", &source, &burst));
        }
        for accepted in events.iter().filter(|e| e.kind == Kind::Accepted) {
            if login_bursts.iter().any(|&(start, end)| {
                accepted.time >= start && accepted.time <= end + t.window_seconds as i64
            }) {
                incidents.push(incident(
                    "login-after-failures",
                    "critical",
                    &source,
                    &[accepted],
                ));
            }
        }
    }
    incidents.sort_by(|a, b| {
        (&a.evidence[0].file, a.evidence[0].line).cmp(&(&b.evidence[0].file, b.evidence[0].line))
    });
    (incidents, summary)
}

fn distinct(events: &[&Event]) -> usize {
    events
        .iter()
        .map(|e| e.target.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Maximal runs of events where some window of `window` seconds satisfies `enough`; a run grows
/// while the next event falls within `window` of the previous one.
fn bursts<'e>(
    events: &[&'e Event],
    window: u64,
    enough: impl Fn(&[&Event]) -> bool,
) -> Vec<Vec<&'e Event>> {
    let window = window as i64;
    let mut out = Vec::new();
    let mut left = 0;
    let mut right = 0;
    while right < events.len() {
        while events[right].time - events[left].time > window {
            left += 1;
        }
        if enough(&events[left..=right]) {
            let mut end = right;
            while end + 1 < events.len() && events[end + 1].time - events[end].time <= window {
                end += 1;
            }
            out.push(events[left..=end].to_vec());
            left = end + 1;
            right = end + 1;
            continue;
        }
        right += 1;
    }
    out
}

fn incident(
    kind: &'static str,
    severity: &'static str,
    source: &str,
    events: &[&Event],
) -> Incident {
    let targets: BTreeSet<&str> = events.iter().map(|e| e.target.as_str()).collect();
    Incident {
        kind,
        severity,
        source: source.to_string(),
        first_seen: events[0].stamp.clone(),
        last_seen: events[events.len() - 1].stamp.clone(),
        events: events.len(),
        targets: targets.into_iter().take(50).map(str::to_string).collect(),
        evidence: events.iter().take(20).map(|e| e.evidence.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brute_force_spraying_scanning_and_a_login_after() {
        let mut auth = String::new();
        for (i, user) in ["root", "admin", "test", "oracle", "ubuntu", "root"]
            .iter()
            .enumerate()
        {
            auth.push_str(&format!("Mar  5 10:00:0{i} web1 sshd[100{i}]: Failed password for invalid user {user} from 203.0.113.9 port 4{i}22 ssh2\n"));
        }
        auth.push_str("Mar  5 10:00:09 web1 sshd[1010]: Accepted password for root from 203.0.113.9 port 4000 ssh2\n");
        auth.push_str("Mar  5 10:30:00 web1 sshd[1011]: Failed password for bob from 198.51.100.7 port 4000 ssh2\n");
        let mut web = String::new();
        for i in 0..25 {
            web.push_str(&format!("192.0.2.44 - - [10/Oct/2024:13:55:{:02} +0000] \"GET /wp-{i}.php HTTP/1.1\" 404 153 \"-\" \"scanner\"\n", i));
        }
        web.push_str("192.0.2.44 - - [10/Oct/2024:13:56:00 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"x\"\nnot a log line\n");
        let files = vec![
            ("auth.log".to_string(), auth),
            ("access.log".to_string(), web),
        ];
        let (incidents, summary) = correlate(&files, &Thresholds::default());
        let kinds: Vec<(&str, &str, usize)> = incidents
            .iter()
            .map(|i| (i.kind, i.source.as_str(), i.events))
            .collect();
        assert_eq!(
            kinds,
            [
                ("path-scanning", "192.0.2.44", 25),
                ("brute-force", "203.0.113.9", 6),
                ("password-spraying", "203.0.113.9", 6),
                ("login-after-failures", "203.0.113.9", 1)
            ]
        );
        assert_eq!(incidents[1].evidence[0].line, 1);
        assert_eq!(summary.unparsed, 1);
    }
}
