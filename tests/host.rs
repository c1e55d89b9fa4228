//! The host loading and calling the real `echo` and `linter` components.

use std::sync::Arc;

use serde_json::{Value, json};
use tandem::{DirGrant, ErrorKind, Isolation, Policy};
use tandem_e2e::{agent, host, host_with_cache};

#[tokio::test]
async fn echo_describes_itself() {
    let host = host();
    let echo = host.load(&agent("echo"), Policy::default()).await.unwrap();
    assert_eq!(echo.id(), "echo");
    assert_eq!(echo.info.version.to_string(), "0.1.0");
    let ops: Vec<_> = echo
        .info
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.deterministic))
        .collect();
    assert_eq!(ops, [("echo", true)]);
    assert_eq!(
        echo.info.operations[0].input_example,
        Some(json!({"message": "hello"}))
    );
    assert_eq!(echo.content_hash.len(), 64);
}

#[tokio::test]
async fn echo_returns_its_input_unchanged() {
    // Without a fuel limit (the default) the agent runs on the engine that counts no fuel; with
    // one, on the metered engine: the same answers either way.
    for fuel in [None, Some(500_000_000)] {
        let host = host();
        let mut policy = Policy::default();
        policy.limits.fuel = fuel;
        host.load(&agent("echo"), policy).await.unwrap();
        let large = format!("[{}]", vec!["[1]"; 100_000].join(","));
        for input in [
            r#"{"message":"hi"}"#,
            r#"[1, 2.5, "ünïcødé", null]"#,
            "\"\"",
            &large,
        ] {
            let input = input.to_string();
            let response = host.invoke("echo", "echo", input.clone()).await.unwrap();
            assert_eq!(response.output, input);
            assert_eq!(response.fuel_used > 0, fuel.is_some(), "fuel {fuel:?}");
        }
    }
}

#[tokio::test]
async fn concurrent_calls_get_their_own_answers_in_both_isolation_modes() {
    for isolation in [Isolation::Pooled, Isolation::Fresh] {
        let host = Arc::new(host());
        let mut policy = Policy::default();
        policy.limits.isolation = isolation;
        let echo = host.load(&agent("echo"), policy).await.unwrap();
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let host = host.clone();
                tokio::spawn(async move {
                    (
                        i,
                        host.invoke("echo", "echo", format!("{{\"n\":{i}}}")).await,
                    )
                })
            })
            .collect();
        for call in calls {
            let (i, result) = call.await.unwrap();
            assert_eq!(result.unwrap().output, format!("{{\"n\":{i}}}"));
        }
        let idle = echo.idle_instances();
        match isolation {
            Isolation::Pooled => assert!((1..=32).contains(&idle), "warm instances kept: {idle}"),
            Isolation::Fresh => assert_eq!(idle, 0, "no instance is kept"),
        }
    }
}

#[tokio::test]
async fn linter_reports_each_rule_with_position() {
    let host = host();
    host.load(&agent("linter"), Policy::default())
        .await
        .unwrap();
    let input = json!({
        "text": "fn main() {   \n\tlet x = 1; // TODO\n  \tbad();\n}",
        "name": "main.rs",
        "config": {"max-line-length": 20},
    });
    let output: Value = serde_json::from_str(
        &host
            .invoke("linter", "lint", input.to_string())
            .await
            .unwrap()
            .output,
    )
    .unwrap();
    let findings: Vec<(u64, u64, &str, &str)> = output["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["file"], "main.rs");
            (
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["rule"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [
            (1, 12, "trailing-whitespace", "warning"),
            (2, 1, "tab-indentation", "warning"),
            (2, 16, "todo-marker", "info"),
            (3, 1, "mixed-indentation", "error"),
            (4, 2, "missing-final-newline", "warning"),
        ]
    );
    assert_eq!(
        output["summary"],
        json!({"files": 1, "bytes": 46, "findings": 5, "errors": 1, "warnings": 3, "infos": 1})
    );
}

#[tokio::test]
async fn linter_reads_only_what_its_grants_allow() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "ok\nFIXME later\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/b.txt"), "no newline").unwrap();
    std::fs::write(dir.path().join("sub/c.bin"), [0u8, 1, 2]).unwrap();

    let host = host();
    let mut policy = Policy::default();
    policy.grants.dirs.push(DirGrant {
        host: dir.path().to_path_buf(),
        guest: "work".into(),
        writable: false,
    });
    host.load(&agent("linter"), policy).await.unwrap();

    let output = host
        .invoke("linter", "lint", json!({"paths": ["work"]}).to_string())
        .await
        .unwrap()
        .output;
    let output: Value = serde_json::from_str(&output).unwrap();
    let findings: Vec<(&str, &str)> = output["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        findings,
        [
            ("work/a.txt", "todo-marker"),
            ("work/sub/b.txt", "missing-final-newline")
        ]
    );
    assert_eq!(
        output["skipped"],
        json!([{"file": "work/sub/c.bin", "reason": "binary file"}])
    );

    // Outside the preopen: through `..` and through an absolute host path.
    let escape = host
        .invoke(
            "linter",
            "lint",
            json!({"paths": ["work/../../etc/passwd"]}).to_string(),
        )
        .await
        .unwrap_err();
    assert_eq!(escape.kind(), ErrorKind::Denied, "{escape}");
    let absolute = dir.path().join("a.txt").display().to_string();
    let error = host
        .invoke("linter", "lint", json!({"paths": [absolute]}).to_string())
        .await
        .unwrap_err();
    // Outside every preopen an absolute path does not exist for the guest. Which errno says so
    // depends on the guest's WASI libc: rustup's gives ENOENT, Debian's ENOTCAPABLE.
    match error.kind() {
        ErrorKind::InvalidInput => assert!(error.to_string().contains("No such file"), "{error}"),
        ErrorKind::Denied => assert!(error.to_string().contains("not readable here"), "{error}"),
        other => panic!("{other}: {error}"),
    }
    assert!(
        !error.to_string().contains("FIXME"),
        "nothing of the file leaks: {error}"
    );
}

#[tokio::test]
async fn a_second_host_maps_compiled_code_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let entries = || {
        std::fs::read_dir(cache.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "cwasm")
            })
            .count()
    };
    host_with_cache(cache.path())
        .load(&agent("echo"), Policy::default())
        .await
        .unwrap();
    assert_eq!(entries(), 1);
    let second = host_with_cache(cache.path());
    second
        .load(&agent("echo"), Policy::default())
        .await
        .unwrap();
    assert_eq!(entries(), 1, "nothing recompiled");
    assert_eq!(
        second
            .invoke("echo", "echo", "7".into())
            .await
            .unwrap()
            .output,
        "7"
    );
}
