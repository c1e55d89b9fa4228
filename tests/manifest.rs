//! Manifests beside components: their limits and grants are what the host enforces, and a bad
//! manifest stops only its own agent, with an error that names the file and the key.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tandem::{ErrorKind, LoadError};
use tandem_e2e::{agent, host, tandem_bin, target_dir, test_agent};

/// A directory holding copies of components with the given manifests beside them.
fn agents_dir(entries: &[(&Path, &str, Option<&str>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (component, name, manifest) in entries {
        std::fs::copy(component, dir.path().join(format!("{name}.wasm"))).unwrap();
        if let Some(manifest) = manifest {
            std::fs::write(dir.path().join(format!("{name}.toml")), manifest).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn grants_and_limits_come_from_the_manifest_beside_the_component() {
    let linter = agent("linter");
    let hostile = test_agent("hostile");
    let dir = agents_dir(&[
        (
            &linter,
            "linter",
            Some(
                "[capabilities]\ndirs = [{ host = \"docs\", guest = \"docs\", mode = \"read-only\" }]\n",
            ),
        ),
        (
            &hostile,
            "hostile",
            Some("[limits]\ntimeout = \"200ms\"\nfuel = 1_000_000_000_000\n"),
        ),
    ]);
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/readme.txt"), "TODO write me\n").unwrap();

    let host = host();
    let (loaded, failed) = host.load_dir(dir.path()).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        loaded.iter().map(|a| a.id()).collect::<Vec<_>>(),
        ["hostile", "linter"]
    );

    let output = host
        .invoke("linter", "lint", json!({"paths": ["docs"]}).to_string())
        .await
        .unwrap()
        .output;
    let output: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(
        output["findings"][0]["file"], "docs/readme.txt",
        "the relative grant resolved beside the manifest"
    );

    let error = host
        .invoke("hostile", "spin", "{}".into())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(
        error.to_string().contains("timed out after 200ms"),
        "{error}"
    );
    assert_eq!(
        host.agent("hostile").unwrap().policy().limits.timeout,
        Duration::from_millis(200)
    );
}

#[tokio::test]
async fn a_bad_manifest_stops_only_its_own_agent() {
    let echo = agent("echo");
    let linter = agent("linter");
    let dir = agents_dir(&[
        (
            &echo,
            "echo",
            Some("[limits]\nmemory = \"64MiB\"\nnetwork = true\n"),
        ),
        (&linter, "linter", None),
    ]);
    let host = host();
    let (loaded, failed) = host.load_dir(dir.path()).await.unwrap();
    assert_eq!(
        loaded.iter().map(|a| a.id()).collect::<Vec<_>>(),
        ["linter"]
    );
    assert_eq!(failed.len(), 1);
    let message = failed[0].to_string();
    assert!(matches!(failed[0], LoadError::Manifest(_)), "{message}");
    assert!(
        message.contains("echo.toml") && message.contains("unknown field `network`"),
        "{message}"
    );
    assert_eq!(failed[0].kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn the_manifest_can_pin_the_agent_id() {
    let echo = agent("echo");
    let dir = agents_dir(&[(&echo, "echo", Some("[agent]\nid = \"parrot\"\n"))]);
    let (loaded, failed) = host().load_dir(dir.path()).await.unwrap();
    assert!(loaded.is_empty());
    let message = failed[0].to_string();
    assert!(
        message.contains("its manifest says it is `parrot`, but it describes itself as `echo`"),
        "{message}"
    );
}

#[test]
fn guest_stdout_goes_to_the_log_only_when_granted_and_is_rate_limited() {
    let run = |manifest: &str, count: u32| {
        let dir = agents_dir(&[(&test_agent("hostile"), "hostile", Some(manifest))]);
        let output = Command::new(tandem_bin())
            .args([
                "run",
                dir.path().join("hostile.wasm").to_str().unwrap(),
                "--op",
                "print",
            ])
            .args(["--input", &json!({ "count": count }).to_string()])
            .env("TANDEM_CACHE_DIR", target_dir().join("test-cache"))
            .env("TANDEM_LOG", "tandem::stdio=info")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let logged = run("[capabilities]\nstdio = \"log\"\n", 3);
    let lines: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("tandem::stdio"))
        .collect();
    assert_eq!(lines.len(), 3, "{logged}");
    assert!(
        lines[0].contains("line 0")
            && lines[0].contains("agent=\"hostile\"")
            && lines[0].contains("stream=\"stdout\""),
        "{}",
        lines[0]
    );

    assert!(
        !run("", 3).contains("line 0"),
        "stdout is discarded by default"
    );

    let flood = run("[capabilities]\nstdio = \"log\"\n", 5_000);
    let kept = flood
        .lines()
        .filter(|l| l.contains("tandem::stdio") && l.contains(" line "))
        .count();
    assert!((1..=1_000).contains(&kept), "{kept} lines kept of 5000");
}

#[test]
fn the_readme_example_manifest_is_a_valid_manifest() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find("```toml\n[agent]")
        .expect("the README has the full manifest example")
        + "```toml\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let manifest = tandem::Manifest::parse(Path::new("README.md"), example).unwrap();
    assert_eq!(manifest.agent.id.as_deref(), Some("linter"));
    assert_eq!(manifest.capabilities.dirs.len(), 2);
    assert_eq!(manifest.resilience.max_attempts, Some(3));
}
