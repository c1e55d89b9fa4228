//! Dockerfiles: instructions read with their continuation lines joined, then checked for floating
//! base images, running as root, `ADD` of URLs, `apt-get` leaving its lists or installing
//! recommended packages, and secrets in `ENV`/`ARG`.

use guest_support::Finding;

use super::image;
use super::rules::finding;
use crate::service::names_a_secret;

/// One instruction: its keyword (upper case), its arguments, the line it starts on.
struct Instruction {
    keyword: String,
    args: String,
    line: usize,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<Instruction> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if current.is_none() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if current.is_some() && line.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        let (body, continued) = match line.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (line, false),
        };
        match &mut current {
            Some(instruction) => {
                instruction.args.push(' ');
                instruction.args.push_str(body.trim());
            }
            None => {
                let (keyword, args) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
                current = Some(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_string(),
                    line: i + 1,
                });
            }
        }
        if !continued && let Some(done) = current.take() {
            out.push(done);
        }
    }
    out.extend(current);
    out
}

/// `KEY=VALUE` pairs (or the old `KEY VALUE` form) of an `ENV` or `ARG`.
fn assignments(args: &str) -> Vec<(String, String)> {
    if !args.contains('=') {
        let (k, v) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        return vec![(k.to_string(), v.trim().to_string())];
    }
    args.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
        .collect()
}

pub fn review(file: &str, text: &str) -> Vec<Finding> {
    let instructions = instructions(text);
    let mut findings = Vec::new();
    let mut stages: Vec<String> = Vec::new();
    let last_from = instructions.iter().rposition(|i| i.keyword == "FROM");
    let mut last_user: Option<(&Instruction, String)> = None;
    for (index, ins) in instructions.iter().enumerate() {
        let in_final_stage = last_from.is_some_and(|f| index >= f);
        match ins.keyword.as_str() {
            "FROM" => {
                let words: Vec<&str> = ins
                    .args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let base = words.first().copied().unwrap_or("");
                if base != "scratch" && !stages.iter().any(|s| s.eq_ignore_ascii_case(base)) {
                    findings.extend(image::check(file, ins.line, base));
                }
                if let [_, as_kw, name, ..] = words[..]
                    && as_kw.eq_ignore_ascii_case("as")
                {
                    stages.push(name.to_string());
                }
            }
            "USER" if in_final_stage => last_user = Some((ins, ins.args.clone())),
            "ADD" => {
                let checked = ins
                    .args
                    .split_whitespace()
                    .any(|w| w.starts_with("--checksum"));
                let url = ins
                    .args
                    .split_whitespace()
                    .find(|w| w.starts_with("http://") || w.starts_with("https://"));
                if let Some(url) = url
                    && !checked
                {
                    findings.push(finding(file, ins.line, "add-url", format!("`ADD {url}` fetches whatever the server sends"), "download with `curl -fsSL` and check its SHA-256 in a RUN, or use `ADD --checksum=sha256:...`"));
                }
            }
            "RUN" if ins.args.contains("apt-get") && ins.args.contains("install") => {
                if !ins.args.contains("--no-install-recommends") {
                    findings.push(finding(
                        file,
                        ins.line,
                        "apt-no-recommends",
                        "`apt-get install` without `--no-install-recommends`".into(),
                        "add `--no-install-recommends`",
                    ));
                }
                if in_final_stage && !ins.args.contains("/var/lib/apt/lists") {
                    findings.push(finding(
                        file,
                        ins.line,
                        "apt-no-cleanup",
                        "`apt-get install` leaves /var/lib/apt/lists in the image".into(),
                        "end the same RUN with `&& rm -rf /var/lib/apt/lists/*`",
                    ));
                }
            }
            "ENV" | "ARG" => {
                for (key, value) in assignments(&ins.args) {
                    if names_a_secret(&key) && !value.is_empty() && !value.starts_with('$') {
                        findings.push(finding(file, ins.line, "secret-in-env", format!("`{} {key}` holds a secret in the image (every layer keeps it)", ins.keyword), "pass it at run time from a secret (`RUN --mount=type=secret` to build, the orchestrator's secrets to run)"));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(from) = last_from.map(|i| &instructions[i]) {
        match last_user {
            Some((ins, user)) if is_root(&user) => findings.push(finding(file, ins.line, "runs-as-root", format!("the last `USER` is `{user}`"), "switch to an unprivileged user (`USER 10001:10001`) after the steps that need root")),
            Some(_) => {}
            None => findings.push(finding(file, from.line, "runs-as-root", "the final stage sets no `USER`, so it runs as root".into(), "create a user (`useradd --system --uid 10001 app`) and add `USER 10001:10001`")),
        }
    }
    findings
}

/// `root`, `0`, `root:root`, `0:0`.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user).trim();
    name == "root" || name == "0"
}
