//! Outbound HTTP (`[egress]`) and secrets (`[secrets]`), against real HTTP servers started on
//! loopback: the `fetcher` test agent sends what it is told through the SDK's client, and the
//! servers record what reached them. One server is allowed (by name, `localhost`, with a secret
//! bound to its rule), one allowed by address without the secret, one never allowed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tandem::manifest::Manifest;
use tandem::{CallError, ErrorKind, Host, HostConfig, Policy};
use tandem_e2e::loopback::Server;
use tandem_e2e::{target_dir, test_agent};

/// The secret the host reads from its environment; no guest, log or record may ever hold it.
const SECRET: &str = "s3cr3t-Zq8v-token";

/// The fetcher's manifest: `api` (localhost:A, GET and POST under `/`, private allowed, the
/// secret bound to it), `mirror` (127.0.0.1:B by address, GET only), `public-only` (localhost:C
/// without `private`, so its loopback address is refused); 1 KiB request and 64 KiB response caps
/// and a 2 s request timeout in a 4 s call.
fn manifest(a: u16, b: u16, c: u16) -> String {
    format!(
        r#"
[limits]
timeout = "4s"

[egress]
max-request-bytes = "1KiB"
max-response-bytes = "64KiB"
timeout = "2s"

[[egress.allow]]
name = "api"
scheme = "http"
host = "localhost"
port = {a}
methods = ["GET", "POST"]
private = true

[[egress.allow]]
name = "mirror"
scheme = "http"
host = "127.0.0.1"
port = {b}
methods = ["GET"]
path = "/hello"

[[egress.allow]]
name = "public-only"
scheme = "http"
host = "localhost"
port = {c}

[secrets.token]
from-env = "FETCHER_TOKEN"
rules = ["api"]
"#
    )
}

/// The servers, and a host with the fetcher loaded under the manifest, its audit log in `dir`.
struct Setup {
    api: Server,
    mirror: Server,
    other: Server,
    host: Arc<Host>,
    audit: PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let (api, mirror, other) = (
        Server::start("api"),
        Server::start("mirror"),
        Server::start("other"),
    );
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let host = Arc::new(
        Host::new(HostConfig {
            cache_dir: Some(target_dir().join("test-cache")),
            audit_log: Some(audit.clone()),
            ..HostConfig::default()
        })
        .unwrap(),
    );
    let path = dir.path().join("fetcher.toml");
    let text = manifest(api.port, mirror.port, other.port);
    let env = |name: &str| (name == "FETCHER_TOKEN").then(|| SECRET.to_string());
    let mut policy = Manifest::parse(&path, &text)
        .and_then(|m| m.policy(&path, dir.path(), host.engine_limits(), env))
        .unwrap();
    policy.resilience.retry.max_attempts = 1;
    host.load(&test_agent("fetcher"), policy).await.unwrap();
    Setup {
        api,
        mirror,
        other,
        host,
        audit,
        _dir: dir,
    }
}

impl Setup {
    async fn fetch(&self, input: Value) -> Result<Value, CallError> {
        let response = self
            .host
            .invoke("fetcher", "fetch", input.to_string())
            .await?;
        Ok(serde_json::from_str(&response.output).unwrap())
    }

    fn api(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.api.port)
    }
}

fn denied(result: Result<Value, CallError>, names: &str) -> String {
    let error = result.expect_err("the request is refused");
    assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
    let message = error.to_string();
    assert!(message.contains(names), "`{message}` names `{names}`");
    message
}

#[tokio::test]
async fn requests_are_allowed_and_denied_by_host_port_method_and_path() {
    let s = setup().await;
    let ok = s.fetch(json!({"url": s.api("/hello")})).await.unwrap();
    assert_eq!(
        (ok["status"].as_u64(), ok["body"].as_str()),
        (Some(200), Some("hello from api"))
    );
    let posted = s
        .fetch(json!({"method": "POST", "url": s.api("/hello"), "body": "payload"}))
        .await
        .unwrap();
    assert_eq!(posted["status"], 200);
    assert_eq!(s.api.received().last().unwrap().body, b"payload");

    let mirror = format!("http://127.0.0.1:{}", s.mirror.port);
    let ok = s
        .fetch(json!({"url": format!("{mirror}/hello")}))
        .await
        .unwrap();
    assert_eq!(ok["body"], "hello from mirror");
    // Method and path: the rule matches the host, and the refusal says what it does not allow.
    denied(
        s.fetch(json!({"method": "DELETE", "url": s.api("/hello")}))
            .await,
        "method DELETE",
    );
    denied(
        s.fetch(json!({"url": format!("{mirror}/admin")})).await,
        "path /admin",
    );
    denied(
        s.fetch(json!({"method": "POST", "url": format!("{mirror}/hello")}))
            .await,
        "rule `mirror`",
    );
    // Host and port: no rule for them at all.
    let other = format!("http://127.0.0.1:{}/hello", s.other.port);
    denied(
        s.fetch(json!({"url": other})).await,
        "no [[egress.allow]] rule allows GET",
    );
    denied(
        s.fetch(json!({"url": format!("http://localhost:{}/hello", s.mirror.port)}))
            .await,
        "rule `api` matches the host but not its port",
    );
    denied(
        s.fetch(json!({"url": "http://example.invalid/"})).await,
        "example.invalid",
    );
    assert!(
        s.other.received().is_empty(),
        "nothing reached the server no rule allows"
    );
    assert_eq!(
        s.mirror.received().len(),
        1,
        "only the allowed GET reached the mirror"
    );
}

#[tokio::test]
async fn numeric_and_mapped_forms_of_a_denied_host_are_denied() {
    let s = setup().await;
    let port = s.other.port;
    for url in [
        format!("http://2130706433:{port}/hello"),
        format!("http://0x7f.1:{port}/hello"),
        format!("http://0177.0.0.1:{port}/hello"),
        format!("http://[::ffff:127.0.0.1]:{port}/hello"),
        format!("http://[::ffff:7f00:1]:{}/hello", s.api.port),
        format!("http://127.1:{}/hello", s.api.port),
    ] {
        denied(
            s.fetch(json!({"url": url})).await,
            "no [[egress.allow]] rule",
        );
    }
    assert!(s.other.received().is_empty() && s.api.received().is_empty());
}

#[tokio::test]
async fn a_private_address_is_refused_unless_the_rule_names_it() {
    let s = setup().await;
    // `public-only` allows localhost:C, but localhost is loopback and the rule does not say
    // `private = true`: refused after the name is resolved, before any connection.
    let url = format!("http://localhost:{}/hello", s.other.port);
    let message = denied(s.fetch(json!({"url": url})).await, "loopback");
    assert!(message.contains("public-only"), "{message}");
    assert!(s.other.received().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_only_to_allowed_targets() {
    let s = setup().await;
    let allowed = s.api(&format!("/redirect?to={}", s.api("/hello")));
    let ok = s.fetch(json!({"url": allowed})).await.unwrap();
    assert_eq!(ok["body"], "hello from api");
    let escape = format!("http://127.0.0.1:{}/hello", s.other.port);
    denied(
        s.fetch(json!({"url": s.api(&format!("/redirect?to={escape}"))}))
            .await,
        "no [[egress.allow]] rule",
    );
    assert!(
        s.other.received().is_empty(),
        "the redirect did not reach the denied server"
    );
    // Not followed when the guest says so; a loop ends after the SDK's five.
    let unfollowed = s
        .fetch(json!({"url": allowed, "redirects": 0}))
        .await
        .unwrap();
    assert_eq!(unfollowed["status"], 302);
    let before = s.api.received().len();
    let error = s.fetch(json!({"url": s.api("/loop")})).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Failed, "{error}");
    assert!(
        error.to_string().contains("more than 5 redirects"),
        "{error}"
    );
    assert_eq!(
        s.api.received().len() - before,
        6,
        "the first request and five redirects"
    );
}

#[tokio::test]
async fn bodies_over_the_caps_and_slow_servers_are_cut_with_a_classified_error() {
    let s = setup().await;
    let post = json!({"method": "POST", "url": s.api("/hello"), "body": "z".repeat(2048)});
    let error = s.fetch(post).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Failed, "{error}");
    assert!(error.to_string().contains("max-request-bytes"), "{error}");
    assert!(
        s.api.received().is_empty(),
        "the request never left the host"
    );
    let error = s.fetch(json!({"url": s.api("/big")})).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Failed, "{error}");
    assert!(error.to_string().contains("max-response-bytes"), "{error}");
    let error = s
        .fetch(json!({"url": s.api("/big-chunked")}))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Failed, "{error}");
    assert!(error.to_string().contains("max-response-bytes"), "{error}");
    let started = std::time::Instant::now();
    let error = s.fetch(json!({"url": s.api("/slow")})).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut at the 2 s request timeout"
    );
    // The agent keeps working afterwards.
    assert_eq!(
        s.fetch(json!({"url": s.api("/hello")})).await.unwrap()["status"],
        200
    );
}

/// The secret XOR 0x5a, as the fetcher's memory scan takes it.
fn xored(text: &str) -> Vec<u8> {
    text.bytes().map(|b| b ^ 0x5a).collect()
}

#[tokio::test]
async fn a_secret_reaches_only_its_bound_target_and_nothing_else_holds_it() {
    let s = setup().await;
    let mut events = s.host.events().subscribe();
    let auth = [("authorization", "Bearer {{secret:token}}")];
    let bound = s
        .fetch(json!({"url": s.api("/hello"), "headers": auth, "xored_needle": xored(SECRET)}))
        .await
        .unwrap();
    assert_eq!(bound["status"], 200);
    assert_eq!(
        bound["needle_in_memory"], false,
        "the secret never entered the guest"
    );
    let seen = s.api.received().pop().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    // The scan finds what is there: the guest's own URL.
    let control = s
        .fetch(json!({"url": s.api("/hello"), "xored_needle": xored("/hello")}))
        .await
        .unwrap();
    assert_eq!(control["needle_in_memory"], true);

    // Another allowed host gets the placeholder as written, in a header and in a redirect.
    let mirror = format!("http://127.0.0.1:{}/hello", s.mirror.port);
    s.fetch(json!({"url": mirror, "headers": auth}))
        .await
        .unwrap();
    let seen = s.mirror.received().pop().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer {{secret:token}}")
    );
    // A secret in any other header of a bound request is filled in too; in the URL it is not.
    s.fetch(json!({"url": s.api("/hello?k={{secret:token}}"), "headers": [["x-key", "{{secret:token}}"]]}))
        .await
        .unwrap();
    let seen = s.api.received().pop().unwrap();
    assert_eq!(seen.header("x-key"), Some(SECRET));
    assert!(!seen.target.contains(SECRET), "{}", seen.target);

    // Header smuggling: a value with CR LF never becomes a second header.
    let smuggled = s
        .fetch(
            json!({"url": s.api("/hello"), "headers": [["x-a", "1\r\nx-evil: {{secret:token}}"]]}),
        )
        .await;
    assert!(smuggled.is_err(), "a header value with CR LF is refused");
    assert!(
        s.api
            .received()
            .iter()
            .all(|r| r.header("x-evil").is_none())
    );

    // Nothing the host keeps or shows holds the secret.
    let metrics: String = format!("{:?}", s.host.metrics().totals());
    assert!(!metrics.contains(SECRET));
    s.host.clone().flush_audit().await.unwrap();
    let audit = std::fs::read_to_string(&s.audit).unwrap();
    assert!(audit.contains("\"egress\""), "requests are audited");
    assert!(
        !audit.contains(SECRET),
        "the audit log never holds the secret"
    );
    let mut seen = 0;
    while let Some(tandem::events::Received::Event(event)) = events.try_recv() {
        assert!(!event.json().contains(SECRET), "{}", event.json());
        seen += 1;
    }
    assert!(seen >= 5, "the calls' events were read ({seen})");
    assert!(!format!("{:?}", s.host.agent("fetcher").unwrap().policy()).contains(SECRET));
}

#[tokio::test]
async fn denials_are_counted_audited_and_named() {
    let s = setup().await;
    denied(
        s.fetch(json!({"url": format!("http://127.0.0.1:{}/x", s.other.port)}))
            .await,
        "egress denied",
    );
    s.fetch(json!({"url": s.api("/hello")})).await.unwrap();
    let totals = s.host.metrics().totals();
    let (_, fetcher) = totals
        .iter()
        .find(|((agent, _), _)| agent == "fetcher")
        .unwrap();
    assert_eq!(fetcher.egress, [1, 1, 0], "sent, denied, failed");
    s.host.clone().flush_audit().await.unwrap();
    let audit = std::fs::read_to_string(&s.audit).unwrap();
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"] == "egress")
        .collect();
    assert_eq!(records.len(), 2, "{audit}");
    assert_eq!(records[0]["outcome"], "denied");
    assert_eq!(records[1]["outcome"], "ok");
    assert!(
        records[1]["detail"]
            .as_str()
            .unwrap()
            .contains("rule `api`")
    );
}

#[tokio::test]
async fn without_egress_the_agent_does_not_load() {
    let host = tandem_e2e::host();
    let error = host
        .load(&test_agent("fetcher"), Policy::default())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("wasi:http") && message.contains("[egress]"),
        "{message}"
    );
}

/// `narrow`: the fetcher component again, allowed only the mirror, and allowed to delegate to the
/// fetcher.
fn narrow_policy(s: &Setup) -> Policy {
    let path = Path::new("narrow.toml");
    let text = format!(
        r#"
[capabilities]
env = ["AGENT_ID"]
delegate = ["fetcher"]

[[egress.allow]]
name = "mirror"
scheme = "http"
host = "127.0.0.1"
port = {}
"#,
        s.mirror.port
    );
    let env = |name: &str| (name == "AGENT_ID").then(|| "narrow".to_string());
    let mut policy = Manifest::parse(path, &text)
        .and_then(|m| m.policy(path, Path::new("/"), s.host.engine_limits(), env))
        .unwrap();
    policy.resilience.retry.max_attempts = 1;
    policy
}

#[tokio::test]
async fn delegation_never_widens_egress() {
    let s = setup().await;
    s.host
        .load(&test_agent("fetcher"), narrow_policy(&s))
        .await
        .unwrap();
    let auth = [("authorization", "Bearer {{secret:token}}")];
    // narrow -> fetcher: the callee's own rules and secret apply to the callee's request.
    let input = json!({"agent": "fetcher", "input": {"url": s.api("/hello"), "headers": auth}});
    let output = s
        .host
        .invoke("narrow", "relay", input.to_string())
        .await
        .unwrap();
    assert!(
        output.output.contains("hello from api"),
        "{}",
        output.output
    );
    let seen = s.api.received().pop().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    // narrow's own request to the api is denied, and its secret placeholder is never filled:
    // being able to call the fetcher gives it nothing of the fetcher's.
    let input = json!({"url": s.api("/hello"), "headers": auth});
    let error = s
        .host
        .invoke("narrow", "fetch", input.to_string())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
    let mirror = format!("http://127.0.0.1:{}/hello", s.mirror.port);
    let input = json!({"url": mirror, "headers": auth});
    s.host
        .invoke("narrow", "fetch", input.to_string())
        .await
        .unwrap();
    let seen = s.mirror.received().pop().unwrap();
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer {{secret:token}}")
    );
    // The fetcher (which names nobody to delegate to) cannot borrow narrow either.
    let input = json!({"agent": "narrow", "input": {"url": mirror}});
    let error = s
        .host
        .invoke("fetcher", "relay", input.to_string())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("may not call `narrow`") || error.to_string().contains("narrow"),
        "{error}"
    );
}
