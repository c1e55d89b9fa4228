//! The job `just bench` gives `wasmtime serve` to compare Tandem's HTTP invoke with: a `wasi:http`
//! handler that answers a request's body `B` with `{"output": B}` (what `POST
//! /v1/agents/echo/invoke` answers for the input `B`, less the trace id and figures).
//!
//! Only built for WebAssembly (`agents-guest/build.sh` makes it `target/peer/http-echo.wasm` with
//! the WASI proxy adapter, so that `wasmtime serve` runs it with its defaults).
#![cfg(target_arch = "wasm32")]

use std::io::{Read, Write};

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The largest body read (the server answers 413 past it).
const MAX_BODY: u64 = 1 << 20;

struct HttpEcho;

impl wasip2::exports::http::incoming_handler::Guest for HttpEcho {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (status, body) = match read_body(request) {
            Some(body) => (200, [&b"{\"output\":"[..], &body, b"}"].concat()),
            None => (413, b"{\"error\":\"body too large\"}".to_vec()),
        };
        let headers =
            Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
                .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("a valid status");
        let response_body = response.body().expect("the body, once");
        ResponseOutparam::set(out, Ok(response));
        let mut stream = response_body.write().expect("the stream, once");
        stream.write_all(&body).expect("the body written");
        stream.flush().expect("the body flushed");
        drop(stream);
        OutgoingBody::finish(response_body, None).expect("the body finished");
    }
}

/// The request's body, or `None` when it is over [`MAX_BODY`].
fn read_body(request: IncomingRequest) -> Option<Vec<u8>> {
    let incoming = request.consume().ok()?;
    let stream = incoming.stream().ok()?;
    let mut body = Vec::new();
    stream.take(MAX_BODY + 1).read_to_end(&mut body).ok()?;
    (body.len() as u64 <= MAX_BODY).then_some(body)
}

wasip2::http::proxy::export!(HttpEcho);
