//! A manifest (`agent.toml`): parsing and checking it never panics, whatever the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tandem::engine::EngineLimits;
use tandem::manifest::Manifest;

fuzz_target!(|text: &str| {
    let path = Path::new("agent.toml");
    if let Ok(manifest) = Manifest::parse(path, text) {
        let _ = manifest.policy(
            path,
            Path::new("/nonexistent"),
            &EngineLimits::default(),
            |_| Some("value".to_string()),
        );
    }
});
