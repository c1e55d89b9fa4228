//! An audit log (`tandem audit verify`): verifying it never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|log: &[u8]| {
    let _ = tandem::audit::verify(log);
});
