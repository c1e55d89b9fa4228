//! Lending a directory to a callee for one call, against a real `tandem serve`: the callee reads a
//! lent directory during the call and cannot after it; a read-only lend (asked for, or forced by the
//! caller's own read-only grant) refuses writes; a read-write lend writes through; a lend outside
//! the caller's grant, through `..` or a symbolic link, or to a callee that does not accept lent
//! directories is `denied` and audited; fan-outs and graph nodes get the lend too.
//!
//! The caller is the test guest `hostile` (its `lend` operation), the callee `hostile-peer` (the same
//! guest under another id: `read` and `write` take a path).

use std::path::Path;

use serde_json::{Value, json};
use tandem_e2e::{Reply, TestServer, test_agent};

struct Setup {
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
    data: std::path::PathBuf,
    server: TestServer,
}

fn setup(peer_accepts: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (agents, repo, docs, data) = (
        dir.path().join("agents"),
        dir.path().join("repo"),
        dir.path().join("docs"),
        dir.path().join("data"),
    );
    for d in [&agents, &repo.join("sub"), &docs] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(repo.join("sub/b.txt"), "lent text").unwrap();
    std::fs::write(docs.join("d.txt"), "docs").unwrap();
    std::os::unix::fs::symlink("/etc", repo.join("escape")).unwrap();
    std::fs::copy(test_agent("hostile"), agents.join("hostile.wasm")).unwrap();
    std::fs::copy(test_agent("hostile-peer"), agents.join("hostile-peer.wasm")).unwrap();
    std::fs::copy(test_agent("twin-v1"), agents.join("twin.wasm")).unwrap();
    std::fs::write(
        agents.join("hostile.toml"),
        format!(
            "[capabilities]\ndelegate = [\"hostile-peer\", \"twin\"]\ndirs = [\n  {{ host = \"{}\", guest = \"repo\", mode = \"read-write\" }},\n  {{ host = \"{}\", guest = \"/docs\", mode = \"read-only\" }},\n]\n",
            repo.display(),
            docs.display()
        ),
    )
    .unwrap();
    std::fs::write(
        agents.join("hostile-peer.toml"),
        format!("[capabilities]\naccept-lent-dirs = {peer_accepts}\n"),
    )
    .unwrap();
    let server = TestServer::start(&agents, &["--data-dir", data.to_str().unwrap()], &[]);
    Setup {
        _dir: dir,
        repo,
        data,
        server,
    }
}

/// `hostile` calls `hostile-peer`'s `operation` on `path`, lending `lends`.
fn lend(server: &TestServer, operation: &str, path: &str, lends: Value) -> Reply {
    lend_to(server, "hostile-peer", operation, path, lends, json!({}))
}

fn lend_to(
    server: &TestServer,
    agent: &str,
    operation: &str,
    path: &str,
    lends: Value,
    extra: Value,
) -> Reply {
    let mut input = json!({
        "agent": agent,
        "operation": operation,
        "input": {"path": path},
        "lends": lends,
    });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    server.invoke("hostile", "lend", input)
}

fn denied_message(reply: &Reply) -> String {
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.json()["error"]["kind"], "denied", "{}", reply.body);
    reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_lent_directory_serves_the_one_call_within_the_callers_grant() {
    let s = setup(true);
    let ro = json!([{"path": "repo/sub", "guest": "lent", "read_only": true}]);
    let read = lend(&s.server, "read", "lent/b.txt", ro.clone());
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["output"], "lent text");

    // After the call the callee sees nothing there, whoever calls it.
    let after = s
        .server
        .invoke("hostile-peer", "read", json!({"path": "lent/b.txt"}));
    assert_eq!(after.status, 403, "{}", after.body);
    assert!(
        after.body.contains("cannot read lent/b.txt"),
        "{}",
        after.body
    );

    // Read-only as asked: the write fails and nothing is written.
    let write = lend(&s.server, "write", "lent/new.txt", ro);
    assert_eq!(write.status, 403, "{}", write.body);
    assert!(!s.repo.join("sub/new.txt").exists());

    // Read-write where the caller may write: it writes through.
    let rw = json!([{"path": "repo/sub", "guest": "lent", "read_only": false}]);
    let write = lend(&s.server, "write", "lent/new.txt", rw);
    assert_eq!(write.status, 200, "{}", write.body);
    assert_eq!(
        std::fs::read_to_string(s.repo.join("sub/new.txt")).unwrap(),
        "owned"
    );

    // The caller may only read /docs: a read-write lend of it is read-only.
    let docs = json!([{"path": "/docs", "guest": "/d", "read_only": false}]);
    assert_eq!(
        lend(&s.server, "read", "/d/d.txt", docs.clone()).json()["output"],
        "docs"
    );
    let write = lend(&s.server, "write", "/d/new.txt", docs);
    assert_eq!(write.status, 403, "{}", write.body);

    // A fan-out and a graph lend to every call.
    let fan = lend_to(
        &s.server,
        "hostile-peer",
        "read",
        "lent/b.txt",
        json!([{"path": "repo/sub", "guest": "lent", "read_only": true}]),
        json!({"copies": 3}),
    );
    assert_eq!(
        fan.json()["output"],
        json!(["lent text", "lent text", "lent text"]),
        "{}",
        fan.body
    );
    let graph = lend_to(
        &s.server,
        "hostile-peer",
        "read",
        "lent/b.txt",
        json!([{"path": "repo/sub", "guest": "lent", "read_only": true}]),
        json!({"graph": true}),
    );
    assert_eq!(
        graph.json()["output"],
        json!(["lent text", "lent text"]),
        "{}",
        graph.body
    );
}

#[test]
fn lends_wider_than_the_callers_grant_or_to_an_unwilling_callee_are_denied_and_audited() {
    let s = setup(true);
    for (lends, says) in [
        (
            json!([{"path": "other", "guest": "x"}]),
            "is not within a directory `hostile` was granted",
        ),
        (
            json!([{"path": "repo/../docs", "guest": "x"}]),
            "`..` is not allowed",
        ),
        (
            json!([{"path": "repo/escape", "guest": "x"}]),
            "a symbolic link",
        ),
        (
            json!([{"path": "repo/sub/b.txt", "guest": "x"}]),
            "is not a directory",
        ),
        (
            json!([{"path": "repo/missing", "guest": "x"}]),
            "cannot be lent",
        ),
        (
            json!([{"path": "repo", "guest": "a"}, {"path": "repo/sub", "guest": "a/"}]),
            "already sees a directory at",
        ),
        (
            json!([{"path": "repo", "guest": ".."}]),
            "`..` is not allowed",
        ),
    ] {
        let message = denied_message(&lend(&s.server, "read", "x/b.txt", lends.clone()));
        assert!(message.contains(says), "{lends}: {message}");
        assert!(message.contains("lend refused"), "{message}");
    }
    // `twin` does not accept lent directories.
    let message = denied_message(&lend_to(
        &s.server,
        "twin",
        "version",
        "",
        json!([{"path": "repo", "guest": "r", "read_only": true}]),
        json!({}),
    ));
    assert!(
        message.contains("`twin` does not accept lent directories"),
        "{message}"
    );

    let started = std::time::Instant::now();
    let denials = loop {
        let audit = std::fs::read_to_string(s.data.join("audit.jsonl")).unwrap_or_default();
        let denials: Vec<Value> = audit
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["event"] == "denied-hop")
            .collect();
        if denials.len() >= 8 || started.elapsed().as_secs() > 10 {
            break denials;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(denials.len(), 8, "{denials:?}");
    assert!(
        denials.iter().all(|d| d["agent"] == "hostile"
            && d["detail"].as_str().unwrap().starts_with("lend refused"))
    );
}

#[test]
fn a_callee_that_does_not_accept_lent_directories_is_never_lent_one() {
    let s = setup(false);
    let message = denied_message(&lend(
        &s.server,
        "read",
        "lent/b.txt",
        json!([{"path": "repo/sub", "guest": "lent", "read_only": true}]),
    ));
    assert!(
        message
            .contains("`hostile-peer` does not accept lent directories (`accept-lent-dirs = true`"),
        "{message}"
    );
    // Without lends the same delegation is allowed (and finds nothing at that path).
    let plain = lend(&s.server, "read", "lent/b.txt", json!([]));
    assert_eq!(plain.status, 403, "{}", plain.body);
    assert!(
        plain.body.contains("cannot read lent/b.txt"),
        "{}",
        plain.body
    );
    assert!(Path::new(&s.repo).join("sub/b.txt").exists());
}
