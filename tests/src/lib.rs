//! Helpers shared by the end-to-end tests: where the compiled guests and the `tandem` binary are, a
//! host with a shared compiled-code cache, and components of arbitrary WIT worlds for bad-input tests.
//!
//! The guests are built once per test run by `just agents` (which `just test` runs first); a missing
//! component fails with a message that says so rather than being skipped.

use std::path::{Path, PathBuf};

use tandem::{Host, HostConfig};

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The shipped agent `id`'s component, `target/agents/<id>.wasm`.
pub fn agent(id: &str) -> PathBuf {
    let path = target_dir().join("agents").join(format!("{id}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests with `just agents` (or run `just test`)",
        path.display()
    );
    path
}

/// A test-only agent's component, `target/test-agents/<id>.wasm`.
pub fn test_agent(id: &str) -> PathBuf {
    let path = target_dir().join("test-agents").join(format!("{id}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests with `just agents` (or run `just test`)",
        path.display()
    );
    path
}

/// The `tandem` binary built by `just agents`.
pub fn tandem_bin() -> PathBuf {
    let path = target_dir().join("debug").join("tandem");
    assert!(
        path.is_file(),
        "{} is missing: run `just test`, which builds it",
        path.display()
    );
    path
}

/// A host whose compiled-code cache is shared by all tests of a run.
pub fn host() -> Host {
    Host::new(HostConfig {
        cache_dir: Some(target_dir().join("test-cache")),
        ..HostConfig::default()
    })
    .expect("host starts")
}

/// A host with its own, empty cache directory.
pub fn host_with_cache(dir: &Path) -> Host {
    Host::new(HostConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..HostConfig::default()
    })
    .expect("host starts")
}

/// A real component of the WIT world `world` in `wit` (with `wit/` of the repository resolvable as a
/// dependency), made by wit-component from a module whose function bodies trap. Good for testing
/// what the host checks before it runs anything.
pub fn component_of_world(wit: &str, world: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit"))
        .expect("wit/ parses");
    let package = resolve.push_str("test.wit", wit).expect("test WIT parses");
    let world = resolve
        .select_world(&[package], Some(world))
        .expect("world exists");
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .expect("metadata embeds");
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.module(&module).expect("module is accepted");
    encoder.encode().expect("component encodes")
}
