//! CONSTRUCTOR through `tandem new`, as a user runs it: a scaffolded agent builds with the guests'
//! build (`just agents`) and answers its example; the Rust, Python and Node.js projects pass their
//! own tests with their own tools; a second run writes nothing; `--undo` removes exactly what was
//! written and keeps (and reports) a file the user edited; a user's template is rendered, cached in
//! the agent's state and read again when it changes; bad names and templates are refused by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tandem_e2e::{tandem_bin, target_dir};

/// `tandem new ...` run in `cwd`, CONSTRUCTOR's state kept in `data`.
fn tandem_new(cwd: &Path, data: &Path, args: &[&str]) -> Output {
    Command::new(tandem_bin())
        .arg("new")
        .args(args)
        .current_dir(cwd)
        .env("TANDEM_DATA_DIR", data)
        .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
        .env("TANDEM_AGENTS", target_dir().join("agents"))
        .env("TANDEM_LOG", "off")
        .output()
        .expect("tandem runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `tandem new ... --json`, expected to succeed: CONSTRUCTOR's output.
fn scaffold(cwd: &Path, data: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = tandem_new(cwd, data, &all);
    assert!(
        out.status.success(),
        "tandem new {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// Runs a project's own command, which must succeed.
fn check(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{program} {args:?} in {}: {all}",
        dir.display()
    );
    all
}

/// The repository's root (where `agents-guest/` is).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Removes a scaffolded agent from the repository and its build output, and puts back the
/// `Cargo.lock` its build changed, even when the test fails.
struct Scaffolded {
    id: String,
    lock: Vec<u8>,
}

impl Scaffolded {
    fn new(id: &str) -> Scaffolded {
        Scaffolded {
            id: id.to_string(),
            lock: std::fs::read(repo().join("Cargo.lock")).unwrap(),
        }
    }
}

impl Drop for Scaffolded {
    fn drop(&mut self) {
        let root = repo();
        let _ = std::fs::write(root.join("Cargo.lock"), &self.lock);
        let _ = std::fs::remove_dir_all(root.join("agents-guest").join(&self.id));
        for ext in ["wasm", "toml"] {
            let _ = std::fs::remove_file(
                root.join("target/agents")
                    .join(format!("{}.{ext}", self.id)),
            );
        }
    }
}

#[test]
fn a_new_agent_builds_with_the_guests_and_answers_its_example_then_undo_takes_it_back() {
    let data = tempfile::tempdir().unwrap();
    let id = format!("scaffold-e2e-{}", std::process::id());
    let _cleanup = Scaffolded::new(&id);
    let root = repo();

    let out = tandem_new(&root, data.path(), &["agent", &id]);
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}{}", text(&out.stderr));
    assert!(
        printed.contains(&format!(
            "created in agents-guest/{id}: Cargo.toml, README.md, {id}.toml, src/lib.rs"
        )),
        "{printed}"
    );
    assert!(printed.contains("next:\n  just agents\n"), "{printed}");
    let run_line = printed
        .lines()
        .find(|l| l.contains("--op greet"))
        .expect("the run command is printed");
    assert!(
        run_line.contains(&format!("target/debug/tandem run {id} --op greet")),
        "{run_line}"
    );

    // `just agents` is this script; it builds every guest crate, the new one among them.
    let build = Command::new("bash")
        .arg(root.join("agents-guest/build.sh"))
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build.stderr));
    assert!(
        root.join(format!("target/agents/{id}.toml")).is_file(),
        "its manifest is copied beside it"
    );

    // The example, as printed.
    let out = Command::new(tandem_bin())
        .args([
            "run",
            &id,
            "--op",
            "greet",
            "--input",
            r#"{"name": "Ada"}"#,
            "--raw",
        ])
        .current_dir(&root)
        .env("TANDEM_DATA_DIR", data.path())
        .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
        .env("TANDEM_LOG", "off")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["greeting"], "Hello, Ada!");

    // `tandem build` does the same for the one crate, into the agents directory it is given.
    let built = tempfile::tempdir().unwrap();
    let out = Command::new(tandem_bin())
        .args(["build", &format!("agents-guest/{id}"), "--agents"])
        .arg(built.path())
        .current_dir(&root)
        .env("TANDEM_LOG", "off")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let wasm = built.path().join(format!("{id}.wasm"));
    assert!(
        printed.starts_with(&format!("built {}", wasm.display())),
        "{printed}"
    );
    assert!(text(&out.stderr).contains(&format!("==> compiling `{id}` for wasm32-wasip1")));
    assert!(built.path().join(format!("{id}.toml")).is_file());
    let out = Command::new(tandem_bin())
        .args([
            "run",
            wasm.to_str().unwrap(),
            "--op",
            "greet",
            "--input",
            r#"{"name": "Bo"}"#,
            "--raw",
        ])
        .env("TANDEM_DATA_DIR", data.path())
        .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
        .env("TANDEM_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["greeting"],
        "Hello, Bo!"
    );
    // What is not an agent crate is refused, saying why.
    for (dir, says) in [
        (
            "agents-guest/support",
            "`guest-support` does not build a `cdylib`",
        ),
        (
            "tests/data",
            "not an agent: no Cargo.toml (Rust), app.py (Python) or app.js (JavaScript)",
        ),
    ] {
        let out = Command::new(tandem_bin())
            .args(["build", dir])
            .current_dir(&root)
            .env("TANDEM_LOG", "off")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{dir}");
        assert!(
            text(&out.stderr).contains(says),
            "{dir}: {}",
            text(&out.stderr)
        );
    }

    // Undo: everything it wrote goes, directory included; the repository is as before.
    let out = tandem_new(&root, data.path(), &["agent", &id, "--undo"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !root.join("agents-guest").join(&id).exists(),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn rust_python_and_node_projects_pass_their_own_tests() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let dir = work.path();

    scaffold(
        dir,
        data.path(),
        &["rust-lib", "tally", "--var", "description=Counts things"],
    );
    scaffold(dir, data.path(), &["rust-bin", "greeter"]);
    let target = dir.join("cargo-target");
    let target = target.to_str().unwrap();
    let tests = check(
        &dir.join("tally"),
        "cargo",
        &["test", "--offline", "--target-dir", target],
        &[],
    );
    assert!(
        tests.contains("test tests::greets_by_name ... ok"),
        "{tests}"
    );
    let run = check(
        &dir.join("greeter"),
        "cargo",
        &[
            "run",
            "-q",
            "--offline",
            "--target-dir",
            target,
            "--",
            "Ada",
        ],
        &[],
    );
    assert_eq!(run.trim(), "Hello, Ada!");
    let manifest = std::fs::read_to_string(dir.join("tally/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"tally\"")
            && manifest.contains("description = \"Counts things\""),
        "{manifest}"
    );

    // A Python distribution name with a dot and capitals imports under its normalized name.
    let out = scaffold(dir, data.path(), &["python", "Word.Count"]);
    assert!(
        names(&out["created"]).contains(&"src/word_count/__init__.py"),
        "{out}"
    );
    let tests = check(
        &dir.join("Word.Count"),
        "python3",
        &["-m", "unittest", "discover", "-s", "tests", "-v"],
        &[("PYTHONPATH", "src")],
    );
    assert!(
        tests.contains("test_greets_by_name") && tests.contains("OK"),
        "{tests}"
    );

    scaffold(dir, data.path(), &["node", "@acme/greet"]);
    let tests = check(&dir.join("@acme/greet"), "node", &["--test"], &[]);
    assert!(
        tests.contains("# pass 1") && tests.contains("# fail 0"),
        "{tests}"
    );
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("@acme/greet/package.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(package["name"], "@acme/greet");
    assert_eq!(package["type"], "module");
}

#[test]
fn a_second_run_writes_nothing_and_undo_keeps_what_the_user_changed() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (dir, data) = (work.path(), data.path());
    let project = dir.join("lib-a");

    let first = scaffold(dir, data, &["rust-lib", "lib-a"]);
    assert_eq!(
        names(&first["created"]),
        [".gitignore", "Cargo.toml", "README.md", "src/lib.rs"]
    );
    let written = std::fs::metadata(project.join("src/lib.rs"))
        .unwrap()
        .modified()
        .unwrap();

    let second = scaffold(dir, data, &["rust-lib", "lib-a"]);
    assert!(
        names(&second["created"]).is_empty() && names(&second["updated"]).is_empty(),
        "{second}"
    );
    assert_eq!(names(&second["unchanged"]).len(), 4);
    assert_eq!(
        std::fs::metadata(project.join("src/lib.rs"))
            .unwrap()
            .modified()
            .unwrap(),
        written,
        "not rewritten"
    );

    // A new variable value changes the files that hold it: only those are updated.
    let third = scaffold(
        dir,
        data,
        &["rust-lib", "lib-a", "--var", "description=Now described"],
    );
    assert_eq!(
        names(&third["updated"]),
        ["Cargo.toml", "README.md", "src/lib.rs"],
        "{third}"
    );
    assert_eq!(names(&third["unchanged"]), [".gitignore"]);

    // The user edits one file and adds another; a run with yet another description reports the
    // edited file as a conflict, leaves it, and fails (exit 1) saying so.
    std::fs::write(project.join("src/lib.rs"), "// mine\n").unwrap();
    std::fs::write(project.join("src/extra.rs"), "// also mine\n").unwrap();
    let out = tandem_new(
        dir,
        data,
        &["rust-lib", "lib-a", "--var", "description=Third"],
    );
    let printed = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("not written: lib-a/src/lib.rs: changed since CONSTRUCTOR wrote it"),
        "{printed}"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("src/lib.rs")).unwrap(),
        "// mine\n"
    );

    // Undo removes exactly what it wrote and still holds, keeps the edited file (reported) and the
    // user's own file, and so the directories they are in.
    let out = tandem_new(dir, data, &["rust-lib", "lib-a", "--undo", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "files were kept: {}",
        text(&out.stderr)
    );
    let undo: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rollback = &undo["rollback"];
    assert_eq!(
        names(&rollback["removed"]),
        [".gitignore", "Cargo.toml", "README.md"],
        "{undo}"
    );
    assert_eq!(rollback["kept"][0]["path"], "src/lib.rs");
    let mut left: Vec<String> = walk(&project);
    left.sort();
    assert_eq!(left, ["src/extra.rs", "src/lib.rs"]);
    assert!(
        text(&out.stderr)
            .contains("kept: lib-a/src/lib.rs: changed since CONSTRUCTOR wrote it; kept")
    );

    // Nothing is recorded any more.
    let out = tandem_new(dir, data, &["rust-lib", "lib-a", "--undo"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("nothing is recorded for"),
        "{}",
        text(&out.stderr)
    );
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out
}

#[test]
fn a_users_template_is_rendered_cached_and_read_again_when_it_changes() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let templates = tempfile::tempdir().unwrap();
    let (dir, data) = (work.path(), data.path());
    let service = templates.path().join("service");
    std::fs::create_dir_all(service.join("config")).unwrap();
    std::fs::write(
        service.join("template.toml"),
        r#"description = "A service config"
next = ["cat {{ dest }}/config/{{ name }}.ini"]
[variables.name]
kind = "npm-package"
[variables.port]
kind = "text"
default = "8080"
"#,
    )
    .unwrap();
    std::fs::write(
        service.join("config/{{ name }}.ini.tmpl"),
        "[{{ name }}]\nport = {{ port }}\nclass = {{ name|pascal }}\n",
    )
    .unwrap();
    // A broken template beside it does not stand in the way of the one asked for.
    std::fs::create_dir_all(templates.path().join("broken")).unwrap();
    std::fs::write(
        templates.path().join("broken/template.toml"),
        "description = 3\n",
    )
    .unwrap();
    let templates_dir = templates.path().to_str().unwrap();
    let billing = [
        "service",
        "billing",
        "--templates",
        templates_dir,
        "--var",
        "port=9000",
    ];

    let first = scaffold(dir, data, &billing);
    assert_eq!(first["cache"], "miss");
    assert_eq!(first["source"], templates_dir);
    assert_eq!(
        std::fs::read_to_string(dir.join("billing/config/billing.ini")).unwrap(),
        "[billing]\nport = 9000\nclass = Billing\n"
    );
    assert_eq!(
        names(&first["next"]),
        [format!(
            "cat {}/billing/config/billing.ini",
            dir.canonicalize().unwrap().display()
        )]
    );

    let second = scaffold(dir, data, &billing);
    assert_eq!(second["cache"], "hit", "read from the agent's state");

    std::fs::write(
        service.join("config/{{ name }}.ini.tmpl"),
        "[{{ name }}]\nport = {{ port }}\nworkers = 4\n",
    )
    .unwrap();
    let third = scaffold(dir, data, &billing);
    assert_eq!(third["cache"], "miss", "the file changed");
    assert_eq!(names(&third["updated"]), ["config/billing.ini"]);
    assert!(
        std::fs::read_to_string(dir.join("billing/config/billing.ini"))
            .unwrap()
            .contains("workers = 4")
    );

    // A placeholder the template does not define is an error naming the file and line.
    std::fs::write(
        service.join("config/{{ name }}.ini.tmpl"),
        "[{{ name }}]\nport = {{ prot }}\n",
    )
    .unwrap();
    let out = tandem_new(
        dir,
        data,
        &["service", "other", "--templates", templates_dir],
    );
    assert_eq!(out.status.code(), Some(3));
    let error = text(&out.stderr);
    assert!(
        error.contains("template file `service/config/{{ name }}.ini.tmpl`, line 2"),
        "{error}"
    );
    assert!(!dir.join("other").exists(), "nothing written");
}

#[test]
fn names_are_checked_by_each_ecosystems_rules() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            &["agent", "Hello", "--into", "."][..],
            "the agent id `Hello` must be 1-64 characters",
        ),
        (&["rust-lib", "fn"], "the crate name `fn` is a Rust keyword"),
        (&["rust-lib", "2d"], "starts with a digit"),
        (
            &["python", "import"],
            "the import name `import` of `import` is a Python keyword",
        ),
        (&["node", "Express"], "npm names are lower case"),
        (&["node", "fs"], "a Node.js built-in module"),
        (
            &["rust-lib", "ok", "--var", "description=say \"hi\""],
            "without quotes",
        ),
        (
            &["rust-lib", "ok", "--var", "colour=red"],
            "has no variable `colour`",
        ),
        (
            &["../rust-lib", "x"],
            "`../rust-lib` is not a template name",
        ),
        (
            &["no-such", "x"],
            "no template `no-such`; there are: node-package, python-package, rust-bin, rust-lib, tandem-agent",
        ),
    ] {
        let out = tandem_new(work.path(), data.path(), args);
        let error = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {error}");
        assert!(error.contains(says), "{args:?}: {error}");
    }
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// Whether `tandem new TEMPLATE --dry-run -- NAME` accepts the name.
fn accepted(dir: &Path, data: &Path, template: &str, name: &str) -> bool {
    let out = tandem_new(dir, data, &[template, "--dry-run", "--", name]);
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        other => panic!("{template} {name}: exit {other:?}: {}", text(&out.stderr)),
    }
}

#[test]
fn names_are_judged_as_cargo_npm_and_python_judge_them() {
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (dir, data) = (work.path(), data.path());

    // cargo itself: what `cargo new` refuses is refused; what it takes without a warning is taken.
    // Of what it warns about, we refuse `std`, `con`, `build` and non-ASCII names and take
    // `Hello_World` (a style warning).
    for name in [
        "serde",
        "my-crate",
        "my_crate2",
        "a",
        "x-",
        "Hello_World",
        "fn",
        "self",
        "Self",
        "async",
        "abstract",
        "2fast",
        "a b",
        "test",
        "std",
        "con",
        "build",
        "ünï",
        "dyn",
        "try",
    ] {
        let probe = dir.join("cargo-probe");
        let _ = std::fs::remove_dir_all(&probe);
        let cargo = Command::new("cargo")
            .args(["new", "--vcs", "none", "--lib", "--name", name])
            .arg(&probe)
            .output()
            .unwrap();
        let warned = text(&cargo.stderr).contains("warning");
        let ours = accepted(dir, data, "rust-lib", name);
        if !cargo.status.success() {
            assert!(!ours, "cargo refuses `{name}`, we took it");
        } else if !warned {
            assert!(ours, "cargo takes `{name}`, we refused it");
        }
    }

    // npm's own validate-npm-package-name (8.0.0, from the registry).
    let npm_dir = target_dir().join("npm-names");
    if !npm_dir
        .join("node_modules/validate-npm-package-name")
        .is_dir()
    {
        std::fs::create_dir_all(&npm_dir).unwrap();
        check(
            &npm_dir,
            "npm",
            &[
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "validate-npm-package-name@8.0.0",
            ],
            &[],
        );
    }
    let npm_names = [
        "express",
        "@babel/core",
        "lodash.merge",
        "x--y",
        "@acme/greet",
        "Express",
        "fs",
        "http2",
        "node_modules",
        "favicon.ico",
        ".x",
        "_x",
        "a b",
        "a~b",
        "ab(c)",
        "@scope",
        "ÿ",
        "crypto",
    ];
    let verdicts = check(
        &npm_dir,
        "node",
        &[
            "-e",
            "const v = require('validate-npm-package-name'); for (const n of JSON.parse(process.argv[1])) console.log(v(n).validForNewPackages)",
            &serde_json::to_string(&npm_names).unwrap(),
        ],
        &[],
    );
    for (name, npm) in npm_names.iter().zip(verdicts.lines()) {
        assert_eq!(
            accepted(dir, data, "node", name),
            npm == "true",
            "npm says {npm} for `{name}`"
        );
    }

    // Python: PEP 508's name pattern, and an import name Python can import.
    let python_names = [
        "requests",
        "My.Package",
        "zope.interface",
        "a1",
        "-x",
        "x-",
        "a b",
        "class",
        "1abc",
        "x/y",
        "Word.Count",
        "None",
        "async",
    ];
    let script = "import json, keyword, re, sys\nfor n in json.loads(sys.argv[1]):\n    m = re.sub(r'[-_.]+', '_', n).lower()\n    ok = bool(re.fullmatch(r'([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])', n, re.I)) and m.isidentifier() and not keyword.iskeyword(m)\n    print(ok)";
    let verdicts = check(
        dir,
        "python3",
        &["-c", script, &serde_json::to_string(&python_names).unwrap()],
        &[],
    );
    for (name, python) in python_names.iter().zip(verdicts.lines()) {
        assert_eq!(
            accepted(dir, data, "python", name),
            python == "True",
            "Python says {python} for `{name}`"
        );
    }
}
