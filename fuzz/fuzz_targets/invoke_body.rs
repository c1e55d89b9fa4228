//! An invoke body (`POST /v1/agents/{id}/invoke`): parsing and checking it, and the JSON check
//! every input passes, never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_server::InvokeRequest;

fuzz_target!(|body: &[u8]| {
    if let Ok(request) = InvokeRequest::parse(body) {
        let _ = tandem::json::check(&request.input);
        let _ = tandem::error::CallError::check_name("operation name", &request.op);
    }
});
