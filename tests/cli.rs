//! The `tandem` command, run as a user runs it, against the real components.

use std::process::{Command, Output};

use serde_json::{Value, json};
use tandem_e2e::{agent, tandem_bin, target_dir};

fn tandem(args: &[&str]) -> Output {
    tandem_logging(args, "off")
}

fn tandem_logging(args: &[&str], filter: &str) -> Output {
    Command::new(tandem_bin())
        .args(args)
        .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
        .env("TANDEM_AGENTS", target_dir().join("agents"))
        .env("TANDEM_LOG", filter)
        .output()
        .expect("tandem runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn run_lint_on_a_component_file_prints_the_findings() {
    let linter = agent("linter");
    let input = json!({"text": "x = 1  \n", "name": "a.py"}).to_string();
    let output = tandem(&[
        "run",
        linter.to_str().unwrap(),
        "--op",
        "lint",
        "--input",
        &input,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        value["findings"],
        json!([{"file": "a.py", "line": 1, "column": 6, "rule": "W291", "severity": "warning", "message": "trailing whitespace"}])
    );
}

#[test]
fn guest_log_records_reach_the_hosts_log_tagged_with_agent_and_operation() {
    let input = json!({"files": [{"path": "a", "content": "x\n"}, {"path": "b", "content": "y"}]})
        .to_string();
    let output = tandem_logging(
        &["run", "linter", "--op", "lint", "--input", &input],
        "tandem::guest=info",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    let line = log
        .lines()
        .find(|l| l.contains("linted"))
        .unwrap_or_else(|| panic!("no guest record in {log:?}"));
    for part in [
        "INFO",
        "tandem::guest",
        "agent=\"linter\"",
        "operation=\"lint\"",
        "fields=\"files=2 findings=1\"",
    ] {
        assert!(line.contains(part), "{part} in {line:?}");
    }

    let quiet = tandem_logging(
        &["run", "linter", "--op", "lint", "--input", &input],
        "tandem::guest=warn",
    );
    assert!(
        !stderr(&quiet).contains("linted"),
        "the filter applies to guest records"
    );
}

#[test]
fn run_by_agent_id_with_a_granted_directory_and_input_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("todo.txt"), "TODO: all of it\n").unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let input_file = inputs.path().join("input.json");
    std::fs::write(&input_file, r#"{"paths": ["docs"]}"#).unwrap();
    let grant = format!("{}::docs", dir.path().display());
    let input = format!("@{}", input_file.display());
    let output = tandem(&[
        "run", "linter", "--op", "lint", "--dir", &grant, "--input", &input, "--raw",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(value["findings"][0]["file"], "docs/todo.txt");
    assert_eq!(value["findings"][0]["rule"], "todo-marker");
    assert_eq!(value["summary"]["findings"], 1);
}

#[test]
fn failures_exit_with_the_code_of_their_class_and_say_what_is_wrong() {
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["run", "echo", "--op", "shout"],
            3,
            "error[invalid-input]: agent `echo` has no operation `shout` (it offers: echo)",
        ),
        (
            &["run", "echo", "--op", "echo", "--input", "{nope"],
            3,
            "error[invalid-input]: echo.echo: the input is not valid JSON: key must be a string",
        ),
        (
            &["run", "ghost", "--op", "echo"],
            4,
            "error[unavailable]: no agent `ghost` is loaded (loaded: constructor, crypto-expert, debugger, deployer, director, echo, infrastructure, linter, monitor, optimizer, project-orchestrator, security-auditor, security)",
        ),
        (
            &[
                "run",
                "echo",
                "--op",
                "echo",
                "--input",
                "@/nonexistent.json",
            ],
            3,
            "error[invalid-input]: --input @/nonexistent.json: No such file",
        ),
        (
            &["inspect", "Cargo.toml"],
            3,
            "Cargo.toml: not a WebAssembly file",
        ),
    ];
    for (args, code, message) in cases {
        let output = tandem(args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "tandem {args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(message),
            "tandem {args:?}: expected {message:?} in {:?}",
            stderr(&output)
        );
    }
}

#[test]
fn a_path_outside_the_granted_directories_is_refused_and_named() {
    let output = tandem(&[
        "run",
        "linter",
        "--op",
        "lint",
        "--input",
        r#"{"paths": ["/etc"]}"#,
    ]);
    // The errno depends on the guest's WASI libc (rustup's: ENOENT, Debian's: ENOTCAPABLE).
    let message = stderr(&output);
    match output.status.code() {
        Some(3) => assert!(
            message.contains("error[invalid-input]: linter.lint: `/etc`: No such file"),
            "{message}"
        ),
        Some(6) => assert!(
            message.contains("error[denied]: linter.lint: `/etc`: not readable here"),
            "{message}"
        ),
        other => panic!("{other:?}: {message}"),
    }
}

#[test]
fn inspect_shows_the_agent_and_its_imports_and_exports() {
    let output = tandem(&["inspect", agent("linter").to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["agent"]["id"], "linter");
    let ops: Vec<&str> = value["agent"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["lint", "fix", "rules"]);
    assert_eq!(
        value["exports"],
        json!(["tandem:agent/schemas@0.1.3", "tandem:agent/handler@0.1.3"])
    );
    let imports: Vec<&str> = value["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("wasi:filesystem/preopens@0.2")),
        "{imports:?}"
    );
    assert!(
        !imports.iter().any(|i| i.starts_with("wasi:sockets")),
        "{imports:?}"
    );

    let text = stdout(&tandem(&["inspect", agent("echo").to_str().unwrap()]));
    assert!(
        text.starts_with("echo 0.1.0: Returns its input unchanged\n"),
        "{text}"
    );
    assert!(text.contains("tandem:agent/handler@0.1.3"), "{text}");
}

#[test]
fn list_shows_every_agent_and_reports_files_that_are_not_agents() {
    let output = tandem(&["list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = stdout(&output)
        .lines()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "ID VERSION OPERATIONS",
            "constructor 0.1.0 templates,scaffold,rollback",
            "crypto-expert 0.1.0 hash,hmac,hkdf,create-key,rotate-key,retire-key,list-keys,sign,verify,agree,encrypt,decrypt,hash-password,verify-password,random,benchmark,audit-crypto",
            "debugger 0.1.0 parse,group,locate,explain,leak-check",
            "deployer 0.1.0 canary,blue-green",
            "director 0.1.0 review,incident,release",
            "echo 0.1.0 echo",
            "infrastructure 0.1.0 generate,review",
            "linter 0.2.0 lint,fix,rules",
            "monitor 0.1.0 sample,status,figures,configure",
            "optimizer 0.1.0 recommend-limits,analyse-graph,predict,capacity",
            "project-orchestrator 0.1.0 plan,run",
            "security-auditor 0.1.0 audit-deps,audit-tree,report",
            "security 0.1.0 scan-secrets,scan-code,correlate-logs,rules"
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(agent("echo"), dir.path().join("echo.wasm")).unwrap();
    std::fs::write(dir.path().join("junk.wasm"), "junk").unwrap();
    let output = tandem(&["list", dir.path().to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(3));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value.as_array().unwrap().len(), 1);
    assert_eq!(value[0]["agent"]["id"], "echo");
    assert!(
        stderr(&output).contains("junk.wasm: not a WebAssembly file"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn componentize_rejects_what_is_not_a_core_module() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wasm");
    let output = tandem(&[
        "componentize",
        agent("echo").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("already a component"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());

    let core = target_dir().join("guest/wasm32-wasip1/guest/echo.wasm");
    let output = tandem(&[
        "componentize",
        core.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(agent("echo")).unwrap(),
        "the same bytes as the build's"
    );
}

#[test]
fn help_is_there_for_every_command() {
    for command in ["run", "inspect", "list", "componentize"] {
        let output = tandem(&[command, "--help"]);
        assert!(output.status.success());
        assert!(stdout(&output).contains("Usage: tandem"), "{command}");
    }
}

#[test]
fn graph_run_prints_every_node_and_check_names_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"
policy = "continue"
[[nodes]]
id = "make"
agent = "echo"
op = "echo"
input = { text = "FIXME\n" }
[[nodes]]
id = "lint"
agent = "linter"
op = "lint"
input = { text = "${make/text}" }
depends-on = ["make"]
[[nodes]]
id = "bad"
agent = "linter"
op = "lint"
[[nodes]]
id = "after-bad"
agent = "echo"
op = "echo"
depends-on = ["bad"]
"#,
    )
    .unwrap();
    let output = tandem(&["graph", "run", plan.to_str().unwrap(), "--json"]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "the first failure is invalid input: {}",
        stderr(&output)
    );
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let statuses: Vec<(&str, &str)> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("make", "succeeded"),
            ("lint", "succeeded"),
            ("bad", "failed"),
            ("after-bad", "skipped")
        ]
    );
    assert_eq!(
        report["nodes"][1]["output"]["findings"][0]["rule"],
        "todo-marker"
    );

    let table = stdout(&tandem(&["graph", "run", plan.to_str().unwrap()]));
    assert!(
        table.contains("2 succeeded, 1 failed, 1 skipped, 0 cancelled"),
        "{table}"
    );

    std::fs::write(
        &plan,
        "[[nodes]]\nid = \"a\"\nagent = \"echo\"\nop = \"echo\"\ndepends-on = [\"a\"]\n",
    )
    .unwrap();
    let output = tandem(&["graph", "check", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("invalid plan: dependency cycle: a -> a"),
        "{}",
        stderr(&output)
    );
}
