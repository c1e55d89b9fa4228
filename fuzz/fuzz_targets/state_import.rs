//! A state import file (`tandem state import`): reading it never panics, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = tandem::state::export::parse(text);
});
