//! JavaScript guests: `tandem build` bundles `agents-js/markdown` and `agents-js/js-complexity` with
//! esbuild and makes components of them with componentize-js (installed by the test with `npm
//! install` in `agents-js/`, as the README tells a user to), and the host runs them like any other
//! agent: limits and grants enforced, failures classified. Their output is compared with the tools
//! of their field, from the npm registry: MARKDOWN's HTML with commonmark.js (the CommonMark
//! reference implementation) on the spec's 652 examples and with markdown-it run natively on real
//! documents; JS-COMPLEXITY's findings with ESLint's `complexity` rule on ESLint's, markdown-it's
//! and acorn's sources.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use tandem_e2e::{
    build_agents, node_json, npm, npm_packages, output_json, run_built, scaffold_build_and_greet,
    tandem_bin, target_dir,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `agents-js/`, its dependencies and build tools installed (`npm install` there), once per run.
fn agents_js() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = root().join("agents-js");
        npm(&dir, &["install", "--no-audit", "--no-fund"], &[]);
        dir
    })
}

/// A build tool npm installed in `agents-js/node_modules/.bin`.
fn tool(name: &str) -> PathBuf {
    agents_js().join("node_modules/.bin").join(name)
}

/// The reference tools, installed from the npm registry into the target dir.
fn reference() -> PathBuf {
    npm_packages(
        "js-reference",
        &[
            "eslint@9.39.5",
            "commonmark@0.31.2",
            "commonmark-spec@0.31.2",
            "markdown-it@14.3.3",
        ],
    )
}

/// The directory the JavaScript agents are built into, once per test run.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = target_dir().join("js-agents");
        agents_js();
        let tools = vec![
            ("TANDEM_ESBUILD", tool("esbuild")),
            ("TANDEM_COMPONENTIZE_JS", tool("componentize-js")),
        ];
        build_agents(
            &out,
            &[
                // Their tools found in agents-js/node_modules/.bin, as for a user who ran `npm
                // install` there.
                ("agents-js/markdown", vec![]),
                ("agents-js/js-complexity", vec![]),
                // Outside agents-js: the tools named by the environment.
                ("tests/guests-js/jsprobe", tools),
            ],
        );
        out
    })
}

/// `tandem run <agent> --op <op> <args> --input @FILE` on a built JavaScript agent.
fn run(agent: &str, op: &str, args: &[&str], input: Value) -> std::process::Output {
    run_built(built(), agent, op, args, &input)
}

/// What a failed run printed on stderr; a successful run panics.
fn failure(output: std::process::Output) -> String {
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The inputs and the reference renderings: the CommonMark spec's examples (commonmark.js's HTML)
/// and every Markdown file under `docs` (markdown-it's HTML, run natively).
const MARKDOWN_REFERENCE: &str = r#"
import fs from "node:fs";
import path from "node:path";
import spec from "commonmark-spec";
import * as commonmark from "commonmark";
import MarkdownIt from "markdown-it";
const { docs } = JSON.parse(fs.readFileSync(0, "utf8"));
const reader = new commonmark.Parser(), writer = new commonmark.HtmlRenderer();
const md = new MarkdownIt("commonmark");
const examples = spec.tests.map((t) => ({
  path: `spec-${t.number}`,
  content: t.markdown,
  html: writer.render(reader.parse(t.markdown)),
}));
const files = [];
const walk = (dir) => {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(file);
    else if (entry.name.endsWith(".md")) files.push(file);
  }
};
docs.forEach((doc) => (fs.statSync(doc).isDirectory() ? walk(doc) : files.push(doc)));
const documents = files.map((file) => {
  const content = fs.readFileSync(file, "utf8");
  return { path: file, content, html: md.render(content.replace(/^\uFEFF/, "")) };
});
console.log(JSON.stringify({ examples, documents }));
"#;

/// `[name, html]` of what the agent rendered.
fn rendered(out: &Value) -> Vec<(String, String)> {
    out["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["html"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// commonmark.js writes an empty block quote over two lines, markdown-it on one: the only
/// difference between the two on the spec's examples.
fn empty_quotes_joined(html: &str) -> String {
    html.replace("<blockquote>\n</blockquote>", "<blockquote></blockquote>")
}

#[test]
fn markdown_renders_like_the_commonmark_reference() {
    let reference = node_json(
        &reference(),
        MARKDOWN_REFERENCE,
        &json!({"docs": [agents_js().join("node_modules"), root().join("README.md")]}),
    );
    let inputs = |items: &Value| -> Vec<Value> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| json!({"path": i["path"], "content": i["content"]}))
            .collect()
    };
    // The spec's examples, against the reference implementation.
    let examples = &reference["examples"];
    assert_eq!(examples.as_array().unwrap().len(), 652);
    let out = output_json(run(
        "markdown",
        "render",
        &["--timeout", "60s"],
        json!({"files": inputs(examples)}),
    ));
    let ours = rendered(&out);
    let differ: Vec<_> = ours
        .iter()
        .zip(examples.as_array().unwrap())
        .filter(|((_, html), want)| {
            empty_quotes_joined(html) != empty_quotes_joined(want["html"].as_str().unwrap())
        })
        .map(|((name, html), want)| format!("{name}: {html:?} != {:?}", want["html"]))
        .collect();
    assert!(differ.is_empty(), "{} differ: {differ:#?}", differ.len());
    // Real documents (every README of the installed packages), byte for byte with markdown-it run
    // by Node.js: the sandbox changes nothing.
    let documents = &reference["documents"];
    let count = documents.as_array().unwrap().len();
    assert!(count > 100, "{count} documents");
    let out = output_json(run(
        "markdown",
        "render",
        &["--timeout", "60s"],
        json!({"files": inputs(documents)}),
    ));
    let ours = rendered(&out);
    assert_eq!(ours.len(), count);
    for ((name, html), want) in ours.iter().zip(documents.as_array().unwrap()) {
        assert_eq!(Some(html.as_str()), want["html"].as_str(), "{name}");
    }
}

#[test]
fn markdown_flavours_safety_and_outline() {
    let text = "# Intro\n\n| a | b |\n|---|---|\n| 1 | ~~2~~ |\n\n<script>x()</script>\n\n## Intro\n\nSee [docs](https://example.com/docs) and ![logo](logo.png), www.example.org.\n";
    let gfm = output_json(run(
        "markdown",
        "render",
        &[],
        json!({"text": text, "flavor": "gfm", "raw_html": false}),
    ));
    let html = gfm["documents"][0]["html"].as_str().unwrap();
    assert!(
        html.contains("<table>") && html.contains("<s>2</s>"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;"), "raw HTML escaped: {html}");
    assert!(
        html.contains(r#"<a href="http://www.example.org">"#),
        "{html}"
    );
    let strict = output_json(run("markdown", "render", &[], json!({"text": text})));
    let html = strict["documents"][0]["html"].as_str().unwrap();
    assert!(
        !html.contains("<table>") && html.contains("<script>x()</script>"),
        "{html}"
    );

    let outline = output_json(run(
        "markdown",
        "outline",
        &[],
        json!({"text": text, "name": "guide.md"}),
    ));
    let doc = &outline["documents"][0];
    assert_eq!(doc["name"], "guide.md");
    assert_eq!(
        doc["headings"],
        json!([
            {"level": 1, "text": "Intro", "anchor": "intro", "line": 1},
            {"level": 2, "text": "Intro", "anchor": "intro-1", "line": 9},
        ])
    );
    assert_eq!(
        doc["links"],
        json!([{"href": "https://example.com/docs", "text": "docs", "line": 11}])
    );
    assert_eq!(
        doc["images"],
        json!([{"src": "logo.png", "alt": "logo", "line": 11}])
    );

    let bad = failure(run(
        "markdown",
        "render",
        &[],
        json!({"text": "x", "flavor": "rst"}),
    ));
    assert!(
        bad.contains("invalid-input") && bad.contains("`flavor`"),
        "{bad}"
    );
    let bad = failure(run("markdown", "render", &[], json!({"paths": ["/etc"]})));
    assert!(
        bad.contains("invalid-input") && bad.contains("read no files"),
        "{bad}"
    );

    // The declared schema reaches the host through the `schemas` export.
    let inspect = Command::new(tandem_bin())
        .args(["inspect", "--json"])
        .arg(built().join("markdown.wasm"))
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let schema = &info["agent"]["operations"][0]["input_schema"];
    assert_eq!(
        schema["properties"]["flavor"]["enum"],
        json!(["commonmark", "gfm"]),
        "{info:#}"
    );
}

/// ESLint's `complexity` rule at 0 (every function reported) on each file:
/// `[file, line, column, message]`, and the files with their text.
const ESLINT: &str = r#"
import fs from "node:fs";
import path from "node:path";
import { Linter } from "eslint";
const { dir, suffix, source_type } = JSON.parse(fs.readFileSync(0, "utf8"));
const linter = new Linter({ configType: "flat" });
const config = {
  languageOptions: { ecmaVersion: "latest", sourceType: source_type },
  // The sources' own `eslint-disable` comments would hide findings and name rules not loaded here.
  linterOptions: { noInlineConfig: true, reportUnusedDisableDirectives: "off" },
  rules: { complexity: ["error", 0] },
};
const files = [], findings = [];
const walk = (d) => {
  for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name < b.name ? -1 : 1)) {
    const file = path.join(d, entry.name);
    if (entry.isDirectory()) walk(file);
    else if (entry.name.endsWith(suffix)) files.push(file);
  }
};
walk(dir);
const inputs = files.map((file) => {
  const content = fs.readFileSync(file, "utf8");
  const name = path.relative(dir, file);
  for (const m of linter.verify(content, config, { filename: name })) {
    if (m.fatal) throw new Error(`${name}: ${m.message}`);
    if (m.ruleId === "complexity") findings.push([name, m.line, m.column, m.message]);
  }
  return { path: name, content };
});
console.log(JSON.stringify({ inputs, findings }));
"#;

fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|v| v.to_string());
    rows
}

#[test]
fn js_complexity_agrees_with_eslint() {
    let eslint = reference().join("node_modules/eslint/lib");
    let markdown_it = reference().join("node_modules/markdown-it/lib");
    let acorn = reference().join("node_modules/acorn/dist");
    for (dir, suffix, source_type) in [
        (&eslint, ".js", "commonjs"),
        (&markdown_it, ".mjs", "module"),
        (&acorn, ".mjs", "module"),
    ] {
        let want = node_json(
            &reference(),
            ESLINT,
            &json!({"dir": dir, "suffix": suffix, "source_type": source_type}),
        );
        let out = output_json(run(
            "js-complexity",
            "measure",
            &["--timeout", "120s"],
            json!({"files": want["inputs"], "source_type": source_type}),
        ));
        assert_eq!(out["errors"], json!([]));
        let ours: Vec<Value> = out["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                json!([
                    f["file"],
                    f["line"],
                    f["column"],
                    format!(
                        "{} has a complexity of {}. Maximum allowed is 0.",
                        f["name"].as_str().unwrap(),
                        f["complexity"]
                    )
                ])
            })
            .collect();
        let theirs = want["findings"].as_array().unwrap().clone();
        assert!(
            theirs.len() > 100,
            "{} findings in {}",
            theirs.len(),
            dir.display()
        );
        let (ours, theirs) = (sorted(ours), sorted(theirs));
        let missing: Vec<_> = theirs.iter().filter(|f| !ours.contains(f)).collect();
        let extra: Vec<_> = ours.iter().filter(|f| !theirs.contains(f)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: ESLint only: {missing:#?}\nours only: {extra:#?}",
            dir.display()
        );
    }
}

#[test]
fn js_complexity_options_and_errors() {
    let text = "function f(a = 1) {\n  switch (a) { case 1: return a?.b; case 2: return 2; default: return 0; }\n}\nclass C { x = a ?? b; static { if (c) d(); } }\n";
    let classic = output_json(run(
        "js-complexity",
        "measure",
        &[],
        json!({"text": text, "name": "f.js"}),
    ));
    let rows: Vec<_> = classic["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["complexity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Function 'f'".to_string(), 5),
            ("Class field initializer".to_string(), 2),
            ("Class static block".to_string(), 2),
        ]
    );
    let modified = output_json(run(
        "js-complexity",
        "measure",
        &[],
        json!({"text": text, "variant": "modified", "min": 3}),
    ));
    assert_eq!(modified["functions"][0]["complexity"], 4);
    assert_eq!(modified["functions"].as_array().unwrap().len(), 1);
    let broken = output_json(run(
        "js-complexity",
        "measure",
        &[],
        json!({"text": "function (", "name": "b.js"}),
    ));
    assert_eq!(broken["errors"][0]["file"], "b.js");
    assert_eq!(broken["errors"][0]["line"], 1);
    // `return` outside a function parses only as CommonJS.
    let script = json!({"text": "if (x) return;\n", "source_type": "commonjs"});
    assert_eq!(
        output_json(run("js-complexity", "measure", &[], script))["errors"],
        json!([])
    );
    let bad = failure(run(
        "js-complexity",
        "measure",
        &[],
        json!({"text": "x", "min": 0}),
    ));
    assert!(
        bad.contains("invalid-input") && bad.contains("`min`"),
        "{bad}"
    );
}

#[test]
fn limits_grants_and_errors_hold_for_a_javascript_guest() {
    // Spinning is stopped at the deadline.
    let spin = failure(run("jsprobe", "spin", &["--timeout", "300ms"], json!({})));
    assert!(spin.contains("error[timeout]"), "{spin}");
    // ... or by fuel.
    let fueled = failure(run("jsprobe", "spin", &["--fuel", "50000000"], json!({})));
    assert!(fueled.contains("error[fuel-exhausted]"), "{fueled}");
    // A heap growing past the manifest's 128 MiB is stopped.
    let grown = failure(run("jsprobe", "grow", &["--timeout", "60s"], json!({})));
    assert!(grown.contains("error[memory-limit]"), "{grown}");
    // Unbounded recursion is SpiderMonkey's "too much recursion", classified.
    let deep = failure(run("jsprobe", "recurse", &[], json!({})));
    assert!(
        deep.contains("error[failed]") && deep.contains("recursion"),
        "{deep}"
    );
    // No delegation is granted.
    let delegated = failure(run("jsprobe", "delegate", &[], json!({"x": 1})));
    assert!(
        delegated.contains("dependency-failed") && delegated.contains("denied"),
        "{delegated}"
    );
    // Classified failures, and the rest as `failed` with the error's name.
    let denied = failure(run("jsprobe", "fail", &[], json!({"kind": "denied"})));
    assert!(
        denied.contains("error[denied]") && denied.contains("not for you"),
        "{denied}"
    );
    let typed = failure(run("jsprobe", "fail", &[], json!({"kind": "type"})));
    assert!(
        typed.contains("error[failed]") && typed.contains("TypeError"),
        "{typed}"
    );
    let bare = failure(run("jsprobe", "fail", &[], json!({"kind": "string"})));
    assert!(
        bare.contains("error[failed]") && bare.contains("a bare string"),
        "{bare}"
    );
    let unknown = failure(run("jsprobe", "nothing", &[], json!({})));
    assert!(unknown.contains("nothing"), "{unknown}");
    // State through the helper, kept between calls in the data directory.
    let data = tempfile::tempdir().unwrap();
    let count = || {
        output_json(
            Command::new(tandem_bin())
                .arg("--cache-dir")
                .arg(target_dir().join("test-cache"))
                .arg("--data-dir")
                .arg(data.path())
                .args(["run", "jsprobe", "--agents"])
                .arg(built())
                .args(["--op", "count", "--raw", "--input", "{}"])
                .output()
                .unwrap(),
        )
    };
    assert_eq!(count(), json!({"count": 1, "keys": ["count"]}));
    assert_eq!(count(), json!({"count": 2, "keys": ["count"]}));
}

#[test]
fn a_javascript_guest_fetches_within_its_rules_with_a_secret_it_never_sees() {
    // `fetch` awaited in an async operation, through the host, the secret filled in on the way.
    tandem_e2e::loopback::assert_fetch_through_the_host(&built().join("jsprobe.wasm"), "jsprobe");
}

#[test]
fn requests_in_flight_at_once_are_capped() {
    let api = tandem_e2e::loopback::Server::start("api");
    let component = built().join("jsprobe.wasm");
    let dir = tandem_e2e::loopback::agent_dir(
        &component,
        "jsprobe",
        api.port,
        "max-concurrent = 2\n",
        "",
    );
    let url = format!("http://localhost:{}/hello", api.port);
    let output = run_built(
        dir.path(),
        "jsprobe",
        "fetch-all",
        &[],
        &json!({"urls": [url, url, url]}),
    );
    // Three `fetch`es started at once: two are sent, the third is refused by the host
    // (`connection-limit-reached`, a rejected promise in JavaScript).
    assert_eq!(output_json(output), json!([200, 200, "TypeError"]));
    assert_eq!(api.received().len(), 2);
}

#[test]
fn a_scaffolded_javascript_agent_builds_answers_and_passes_its_tests() {
    let scaffold = scaffold_build_and_greet(
        "js",
        "hello-js",
        "app.js, greeting.js, greeting.test.js, hello-js.toml, package.json",
        &[
            ("TANDEM_ESBUILD", tool("esbuild")),
            ("TANDEM_COMPONENTIZE_JS", tool("componentize-js")),
        ],
    );
    let said = failure(run_built(
        &scaffold.built,
        "hello-js",
        "greet",
        &[],
        &json!({"name": " "}),
    ));
    assert!(
        said.contains("error[invalid-input]") && said.contains("`name` is empty"),
        "{said}"
    );
    let tests = Command::new("node")
        .arg("--test")
        .current_dir(&scaffold.project)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&tests.stdout);
    assert!(tests.status.success(), "{report}");
    assert!(report.contains("# pass 2"), "{report}");
}

#[test]
fn missing_tools_are_named_with_the_command_that_installs_them() {
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("lonely");
    std::fs::create_dir(&agent).unwrap();
    std::fs::write(agent.join("app.js"), "export const handler = {};\n").unwrap();
    let out = Command::new(tandem_bin())
        .arg("build")
        .arg(&agent)
        .env("TANDEM_ESBUILD", dir.path().join("no-such-esbuild"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "unavailable");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("esbuild is not installed")
            && said.contains("npm install --save-dev @bytecodealliance/componentize-js@0.23.0"),
        "{said}"
    );
}
