//! The JSON check every call's input and output pass: its one-pass validator accepts exactly what
//! serde_json (with the nesting limit) accepts, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::json;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let by_serde = json::check_with_serde(text);
        assert_eq!(
            json::is_valid(bytes),
            by_serde.is_ok(),
            "{text:?}: serde_json says {by_serde:?}"
        );
        assert_eq!(json::check(text), by_serde);
    }
});
