//! Golden tests: every `tests/ui/NAME.toml` is a manifest that must be refused, and `NAME.err` beside
//! it holds the exact error a user sees (as Spin's `crates/manifest/tests/ui/` does). The manifests
//! are resolved with `LANG` as the host's only environment variable and the default engine bounds.
//!
//! After changing an error's wording on purpose, `BLESS=1 cargo test -p tandem-manifest --test ui`
//! rewrites the `.err` files; review the diff.

use std::path::Path;

use tandem_manifest::{EngineLimits, Manifest};

fn refusal(path: &Path) -> Option<String> {
    let name = Path::new(path.file_name().expect("a file name"));
    let text = std::fs::read_to_string(path).expect("readable");
    let env = |name: &str| (name == "LANG").then(|| "C.UTF-8".to_string());
    let resolved = Manifest::parse(name, &text)
        .and_then(|m| m.policy(name, Path::new("/"), &EngineLimits::default(), env));
    resolved.err().map(|e| e.to_string())
}

#[test]
fn every_bad_manifest_is_refused_with_its_expected_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let bless = std::env::var_os("BLESS").is_some();
    let mut manifests: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/ui")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 30, "only {} samples", manifests.len());
    let mut wrong = Vec::new();
    for path in &manifests {
        let Some(error) = refusal(path) else {
            wrong.push(format!("{}: accepted", path.display()));
            continue;
        };
        let expected_path = path.with_extension("err");
        if bless {
            std::fs::write(&expected_path, format!("{error}\n")).expect("write .err");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != error {
            wrong.push(format!(
                "{}:\n  expected: {}\n  got:      {error}",
                path.display(),
                expected.trim_end()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
