//! Every kind of bad input gets a classified error that names the file or the problem.

use tandem::{CallError, ErrorKind, LoadError, Policy};
use tandem_e2e::{agent, component_of_contract_version, component_of_world, host, target_dir};

async fn load_bytes(name: &str, bytes: &[u8]) -> LoadError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let error = match host().load(&path, Policy::default()).await {
        Ok(agent) => panic!("{name} loaded as agent {}", agent.id()),
        Err(error) => error,
    };
    assert!(
        error.to_string().contains(name),
        "the error names the file: {error}"
    );
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    error
}

#[tokio::test]
async fn a_file_that_is_not_wasm() {
    let error = load_bytes("notes.wasm", b"these are not the bytes you are looking for").await;
    assert!(matches!(error, LoadError::NotWasm { .. }), "{error}");
    let error = load_bytes("empty.wasm", b"").await;
    assert!(matches!(error, LoadError::NotWasm { .. }), "{error}");
}

#[tokio::test]
async fn a_core_module_instead_of_a_component() {
    // The echo guest as the compiler left it, before `tandem componentize`.
    let core = std::fs::read(target_dir().join("guest/wasm32-wasip1/guest/echo.wasm")).unwrap();
    let error = load_bytes("core.wasm", &core).await;
    assert!(matches!(error, LoadError::CoreModule { .. }), "{error}");
    assert!(
        error.to_string().contains("tandem componentize"),
        "it says how to fix it: {error}"
    );
}

#[tokio::test]
async fn a_truncated_component() {
    let bytes = std::fs::read(agent("echo")).unwrap();
    let error = load_bytes("cut.wasm", &bytes[..bytes.len() / 2]).await;
    assert!(matches!(error, LoadError::Invalid { .. }), "{error}");
}

#[tokio::test]
async fn a_component_of_another_world() {
    let wit = "package acme:tool;
        interface run { run: func() -> u32; }
        world tool { export run; }";
    let error = load_bytes("tool.wasm", &component_of_world(wit, "tool")).await;
    assert!(matches!(error, LoadError::NotAnAgent { .. }), "{error}");
    assert!(
        error.to_string().contains("acme:tool/run"),
        "it lists what the component exports: {error}"
    );
}

/// 0.1.x releases only add: a component built against 0.1.0 (which imports `tandem:agent/*@0.1.0`)
/// or 0.1.1 links against this host's 0.1.2, and so does one built against the current contract. These are
/// dummies whose functions trap, so loading stops at `describe()`, after linking succeeded.
#[tokio::test]
async fn components_built_against_any_0_1_x_link() {
    for version in ["0.1.0", "0.1.1", tandem::bindings::PACKAGE_VERSION] {
        let name = format!("contract-{version}.wasm");
        let error = load_bytes(&name, &component_of_contract_version(version)).await;
        match &error {
            LoadError::Describe { reason, .. } => {
                assert!(reason.contains("unreachable"), "{error}")
            }
            other => panic!("{version}: expected the dummy's describe() to trap, got {other}"),
        }
    }
    // A major version the host does not implement does not link.
    let error = load_bytes(
        "contract-0.2.0.wasm",
        &component_of_contract_version("0.2.0"),
    )
    .await;
    assert!(
        matches!(
            error,
            LoadError::NotAnAgent { .. } | LoadError::UnsupportedImport { .. }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_component_importing_what_the_host_does_not_provide() {
    let wit = "package acme:vaulted;
        interface secrets { open: func(name: string) -> string; }
        world agent-with-vault {
            include tandem:agent/agent@0.1.3;
            import secrets;
        }";
    let error = load_bytes("vaulted.wasm", &component_of_world(wit, "agent-with-vault")).await;
    match &error {
        LoadError::UnsupportedImport { import, .. } => assert_eq!(import, "acme:vaulted/secrets"),
        other => panic!("expected an unsupported import, got {other}"),
    }
}

#[tokio::test]
async fn a_missing_file() {
    let error = host()
        .load(
            std::path::Path::new("/nonexistent/agent.wasm"),
            Policy::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, LoadError::Io { .. }), "{error}");
    assert!(
        error.to_string().contains("/nonexistent/agent.wasm"),
        "{error}"
    );
}

#[tokio::test]
async fn the_same_agent_twice() {
    let host = host();
    host.load(&agent("echo"), Policy::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("echo-copy.wasm");
    std::fs::copy(agent("echo"), &copy).unwrap();
    let error = host.load(&copy, Policy::default()).await.unwrap_err();
    assert!(matches!(error, LoadError::Duplicate { .. }), "{error}");
    assert!(
        error.to_string().contains("echo-copy.wasm")
            && error.to_string().contains("agents/echo.wasm"),
        "{error}"
    );
}

#[tokio::test]
async fn calls_with_bad_names_or_input() {
    let host = host();
    host.load(&agent("echo"), Policy::default()).await.unwrap();

    let error = host
        .invoke("nobody", "echo", "{}".into())
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::UnknownAgent { .. }));
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        error.to_string(),
        "no agent `nobody` is loaded (loaded: echo)"
    );

    let error = host.invoke("echo", "shout", "{}".into()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "agent `echo` has no operation `shout` (it offers: echo)"
    );

    let error = host
        .invoke("echo", "echo", "{\"unclosed\": ".into())
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::InvalidJson { .. }));
    assert!(
        error
            .to_string()
            .starts_with("echo.echo: the input is not valid JSON: EOF while parsing"),
        "{error}"
    );
}

#[tokio::test]
async fn invalid_input_reported_by_the_guest_itself() {
    let host = host();
    host.load(&agent("linter"), Policy::default())
        .await
        .unwrap();
    let error = host
        .invoke("linter", "lint", r#"{"txet": "typo"}"#.into())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("unknown field `txet`"),
        "{error}"
    );
    let error = host
        .invoke("linter", "lint", "{}".into())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("at least one of `text`, `files` or `paths`"),
        "{error}"
    );
}
