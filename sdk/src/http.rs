//! Outbound HTTP, for agents whose manifest grants `[egress]`: a small blocking client over
//! `wasi:http/outgoing-handler`. The host judges every request (and every redirect it follows, one
//! request each) against the agent's `[[egress.allow]]` rules, and fills in secrets: write
//! [`secret`]`("NAME")` (the placeholder `{{secret:NAME}}`) where a header needs one, and the host
//! puts the value there on requests to the targets the secret is bound to. The agent never holds it.
//!
//! ```ignore
//! use tandem_sdk::http::Request;
//!
//! let issues: serde_json::Value = Request::get("https://api.example.com/v1/issues?state=open")
//!     .bearer_secret("api-token")
//!     .header("accept", "application/json")
//!     .send()?                 // an `HttpError`, which `?` turns into the call's error
//!     .error_for_status()?
//!     .json()?;
//! ```
//!
//! A refused request is [`HttpError::Denied`] (the call's `denied` error, with the host's reason);
//! a cut one [`HttpError::Timeout`] or [`HttpError::TooLarge`]; one that could not reach its server
//! [`HttpError::Unreachable`] (retryable). Outside a host (native unit tests) every request is
//! [`HttpError::Unavailable`].

use std::time::Duration;

use crate::AgentError;

/// The placeholder the host replaces with secret `name` on requests to the targets it is bound to.
pub fn secret(name: &str) -> String {
    format!("{{{{secret:{name}}}}}")
}

/// Redirects [`Request::send`] follows unless told otherwise.
pub const DEFAULT_REDIRECTS: u32 = 5;

/// An outbound request, built then sent with [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    redirects: u32,
}

/// A response, its body read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The URL that answered (the last of the redirects followed).
    pub url: String,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host's `[egress]` rules refuse it (or the address its host resolves to).
    Denied(String),
    /// It ran past its timeout or the call's deadline.
    Timeout(String),
    /// Its body, or the response's, is over the agent's cap.
    TooLarge(String),
    /// The server could not be reached (name lookup, connection, TLS): worth a retry.
    Unreachable(String),
    /// The request cannot be made as written (URL, method, header).
    Invalid(String),
    /// The server answered with an error status ([`Response::error_for_status`]).
    Status(u16, String),
    /// Anything else the HTTP stack reported.
    Failed(String),
    /// Not inside a Tandem host.
    Unavailable(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Denied(m)
            | HttpError::Timeout(m)
            | HttpError::TooLarge(m)
            | HttpError::Unreachable(m)
            | HttpError::Invalid(m)
            | HttpError::Failed(m)
            | HttpError::Unavailable(m) => f.write_str(m),
            HttpError::Status(status, url) => write!(f, "{url} answered {status}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A request's failure as the call's error: `denied`, `timeout`, `retryable` (unreachable, 429 and
/// 5xx statuses) or `failed`.
impl From<HttpError> for AgentError {
    fn from(error: HttpError) -> AgentError {
        let message = error.to_string();
        match error {
            HttpError::Denied(_) => AgentError::Denied(message),
            HttpError::Timeout(_) => AgentError::Timeout(message),
            HttpError::Unreachable(_) => AgentError::Retryable(message),
            HttpError::Status(status, _) if status == 429 || status >= 500 => {
                AgentError::Retryable(message)
            }
            _ => AgentError::Failed(message),
        }
    }
}

impl Request {
    /// A request with `method` (`GET`, `POST`, ...) to `url` (`http://` or `https://`).
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            redirects: DEFAULT_REDIRECTS,
        }
    }

    /// `GET url`.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    /// `POST url`.
    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    /// `PUT url`.
    pub fn put(url: &str) -> Request {
        Request::new("PUT", url)
    }

    /// `DELETE url`.
    pub fn delete(url: &str) -> Request {
        Request::new("DELETE", url)
    }

    /// Adds a header (sent as written; a name or value HTTP does not allow fails the request).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Bearer <secret name>`, filled in by the host.
    pub fn bearer_secret(self, name: &str) -> Request {
        let value = format!("Bearer {}", secret(name));
        self.header("authorization", &value)
    }

    /// The body, as bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The body as JSON, with its content type.
    pub fn json<T: serde::Serialize>(self, value: &T) -> Result<Request, HttpError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| HttpError::Invalid(format!("cannot write the body as JSON: {e}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// A timeout for connecting and for each wait on the response (the host's own, from the
    /// manifest, and the call's deadline bound it too).
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// Redirects to follow (0: none, the 3xx response is returned).
    pub fn redirects(mut self, redirects: u32) -> Request {
        self.redirects = redirects;
        self
    }

    /// Sends the request and reads the whole response, following redirects (each judged by the
    /// host as a request of its own; `Authorization` is not carried to another host).
    pub fn send(&self) -> Result<Response, HttpError> {
        let mut request = self.clone();
        let mut followed = 0;
        loop {
            let response = send_once(&request)?;
            let next = match redirect(&request, &response) {
                Some(next) if self.redirects > 0 => next,
                _ => return Ok(response),
            };
            if followed == self.redirects {
                return Err(HttpError::Failed(format!(
                    "{} {}: more than {} redirects",
                    self.method, self.url, self.redirects
                )));
            }
            followed += 1;
            request = next;
        }
    }
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> Result<&str, HttpError> {
        std::str::from_utf8(&self.body)
            .map_err(|e| HttpError::Failed(format!("{}: the body is not UTF-8: {e}", self.url)))
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            HttpError::Failed(format!(
                "{}: the body is not the JSON expected: {e}",
                self.url
            ))
        })
    }

    /// The response, or [`HttpError::Status`] for a 4xx or 5xx status.
    pub fn error_for_status(self) -> Result<Response, HttpError> {
        if self.status >= 400 {
            return Err(HttpError::Status(self.status, self.url));
        }
        Ok(self)
    }
}

/// `scheme`, `authority` and `path?query` of an absolute `http(s)` URL (the fragment dropped).
fn split_url(url: &str) -> Result<(&str, &str, &str), HttpError> {
    let invalid = |why: &str| HttpError::Invalid(format!("`{url}` is not an http(s) URL: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(invalid("the scheme is not http or https"));
    }
    let rest = rest.split('#').next().unwrap_or("");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(invalid("no host"));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

/// The request a 3xx response leads to, if it is a redirect with somewhere to go.
fn redirect(request: &Request, response: &Response) -> Option<Request> {
    if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.header("location")?;
    let (scheme, authority, path) = split_url(&request.url).ok()?;
    let url = if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = path.split('?').next().unwrap_or("/");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{authority}{dir}{location}")
    };
    let mut next = request.clone();
    // 303, and 301/302 after a POST, become a GET without a body, as browsers do.
    if response.status == 303 || (matches!(response.status, 301 | 302) && request.method == "POST")
    {
        next.method = "GET".into();
        next.body.clear();
        next.headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("content-type") && !n.eq_ignore_ascii_case("content-length")
        });
    }
    let same_host = split_url(&url).is_ok_and(|(_, a, _)| a.eq_ignore_ascii_case(authority));
    if !same_host {
        next.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
    }
    next.url = url;
    Some(next)
}

#[cfg(not(target_family = "wasm"))]
fn send_once(request: &Request) -> Result<Response, HttpError> {
    split_url(&request.url)?;
    Err(HttpError::Unavailable(format!(
        "{} {}: outbound HTTP works only inside a Tandem host",
        request.method, request.url
    )))
}

#[cfg(target_family = "wasm")]
fn send_once(request: &Request) -> Result<Response, HttpError> {
    wasi_http::send(request)
}

/// The request made over `wasi:http`.
#[cfg(target_family = "wasm")]
mod wasi_http {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions,
        Scheme,
    };
    use wasip2::io::streams::StreamError;

    use super::{HttpError, Request, Response, split_url};

    /// The most a single write may pass to the host (`wasi:io/streams`).
    const WRITE_CHUNK: usize = 4096;

    pub(super) fn send(request: &Request) -> Result<Response, HttpError> {
        let what = format!("{} {}", request.method, request.url);
        let (scheme, authority, path) = split_url(&request.url)?;
        let fields = Fields::new();
        // The whole body is known: say how long it is (otherwise it would go chunked).
        let has_length = request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
        let sends_body =
            !request.body.is_empty() || matches!(request.method.as_str(), "POST" | "PUT" | "PATCH");
        if !has_length && sends_body {
            let length = request.body.len().to_string();
            let _ = fields.append("content-length", length.as_bytes());
        }
        for (name, value) in &request.headers {
            fields
                .append(name, value.as_bytes())
                .map_err(|e| HttpError::Invalid(format!("{what}: header `{name}`: {e:?}")))?;
        }
        let outgoing = OutgoingRequest::new(fields);
        let method = match request.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        };
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let invalid = |part: &str| HttpError::Invalid(format!("{what}: the {part} is not valid"));
        outgoing
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        outgoing
            .set_authority(Some(authority))
            .map_err(|()| invalid("host"))?;
        outgoing
            .set_path_with_query(Some(path))
            .map_err(|()| invalid("path"))?;
        let options = RequestOptions::new();
        if let Some(timeout) = request.timeout {
            let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            let _ = options.set_between_bytes_timeout(Some(nanos));
        }
        let body = outgoing.body().map_err(|()| invalid("body"))?;
        let pending =
            outgoing_handler::handle(outgoing, Some(options)).map_err(|e| error(&what, e))?;
        // The body goes after `handle`: the host reads it while it sends. A refused request
        // closes it; its reason comes with the response below.
        if let Ok(stream) = body.write() {
            for chunk in request.body.chunks(WRITE_CHUNK) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    break;
                }
            }
        }
        let _ = OutgoingBody::finish(body, None);
        pending.subscribe().block();
        let incoming = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(error(&what, code)),
            _ => {
                return Err(HttpError::Failed(format!(
                    "{what}: the host gave no response"
                )));
            }
        };
        let status = incoming.status();
        let headers = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let body = incoming
            .consume()
            .map_err(|()| HttpError::Failed(format!("{what}: the response body is gone")))?;
        let stream = body
            .stream()
            .map_err(|()| HttpError::Failed(format!("{what}: the response body is gone")))?;
        let mut bytes = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match wasip2::http::types::http_error_code(&e) {
                        Some(code) => error(&what, code),
                        None => body_error(&what, &e.to_debug_string()),
                    });
                }
            }
        }
        drop(stream);
        let _ = IncomingBody::finish(body);
        Ok(Response {
            status,
            headers,
            body: bytes,
            url: request.url.clone(),
        })
    }

    /// An error reading the response body. wasmtime 48 hands these to the guest without their
    /// error code (`http-error-code` gives none), so they are told apart by the host's text.
    fn body_error(what: &str, text: &str) -> HttpError {
        if text.contains("response body size exceeds limit") {
            HttpError::TooLarge(format!(
                "{what}: the response body is over the agent's max-response-bytes"
            ))
        } else if text.contains("timeout") {
            HttpError::Timeout(format!("{what}: timed out reading the body"))
        } else {
            HttpError::Failed(format!("{what}: reading the body: {text}"))
        }
    }

    /// The host's error code as an [`HttpError`].
    fn error(what: &str, code: ErrorCode) -> HttpError {
        match code {
            ErrorCode::HttpRequestDenied => {
                HttpError::Denied(format!("{what}: the host's [egress] rules refuse it"))
            }
            ErrorCode::DestinationIpProhibited => HttpError::Denied(format!(
                "{what}: its host resolves to an address its [egress] rule does not allow"
            )),
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout
            | ErrorCode::DnsTimeout => HttpError::Timeout(format!("{what}: timed out ({code:?})")),
            ErrorCode::HttpRequestBodySize(_) => HttpError::TooLarge(format!(
                "{what}: the request body is over the agent's max-request-bytes"
            )),
            ErrorCode::HttpResponseBodySize(_) => HttpError::TooLarge(format!(
                "{what}: the response body is over the agent's max-response-bytes"
            )),
            ErrorCode::DnsError(_)
            | ErrorCode::DestinationNotFound
            | ErrorCode::DestinationUnavailable
            | ErrorCode::DestinationIpUnroutable
            | ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionTerminated
            | ErrorCode::ConnectionLimitReached
            | ErrorCode::TlsProtocolError
            | ErrorCode::TlsCertificateError
            | ErrorCode::TlsAlertReceived(_) => {
                HttpError::Unreachable(format!("{what}: cannot reach the server ({code:?})"))
            }
            ErrorCode::HttpRequestMethodInvalid | ErrorCode::HttpRequestUriInvalid => {
                HttpError::Invalid(format!("{what}: {code:?}"))
            }
            other => HttpError::Failed(format!("{what}: {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, location: &str) -> Response {
        Response {
            status,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
            url: String::new(),
        }
    }

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        assert_eq!(
            split_url("https://a.example/x?y#z").unwrap(),
            ("https", "a.example", "/x?y")
        );
        assert_eq!(split_url("http://a:81").unwrap(), ("http", "a:81", "/"));
        assert_eq!(split_url("http://a?q").unwrap(), ("http", "a", "?q"));
        assert!(matches!(split_url("ftp://a/"), Err(HttpError::Invalid(_))));
        assert!(matches!(split_url("a/b"), Err(HttpError::Invalid(_))));
        assert!(matches!(split_url("http:///x"), Err(HttpError::Invalid(_))));
    }

    #[test]
    fn redirects_resolve_and_drop_credentials_across_hosts() {
        let post = Request::post("http://a/dir/page?x")
            .bearer_secret("t")
            .body("b");
        let next = redirect(&post, &response(307, "other")).unwrap();
        assert_eq!(
            (next.url.as_str(), next.method.as_str()),
            ("http://a/dir/other", "POST")
        );
        assert!(next.header_named("authorization"));
        let next = redirect(&post, &response(303, "/top")).unwrap();
        assert_eq!(
            (next.url.as_str(), next.method.as_str()),
            ("http://a/top", "GET")
        );
        assert!(next.body.is_empty());
        let next = redirect(&post, &response(302, "https://b/x")).unwrap();
        assert!(!next.header_named("authorization"));
        assert!(redirect(&post, &response(200, "/x")).is_none());
    }

    #[test]
    fn outside_a_host_requests_are_unavailable() {
        let error = Request::get("http://a/").send().unwrap_err();
        assert!(matches!(error, HttpError::Unavailable(_)), "{error}");
        assert!(matches!(
            AgentError::from(HttpError::Denied("x".into())),
            AgentError::Denied(_)
        ));
        assert_eq!(secret("k"), "{{secret:k}}");
    }

    impl Request {
        fn header_named(&self, name: &str) -> bool {
            self.headers.iter().any(|(n, _)| n == name)
        }
    }
}
