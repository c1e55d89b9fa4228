//! `wasi:http/outgoing-handler` for agents whose manifest grants `[egress]` (wasmtime-wasi-http's
//! implementation, with this module's [`WasiHttpHooks`] sending each request). It is linked only for
//! those agents (see [`add_to_linker`]); everything else about a request is judged here:
//!
//! 1. the URL against the rules ([`Egress::permit`]): a request no rule allows is refused with
//!    `http-request-denied`, before any name is looked up;
//! 2. `{{secret:NAME}}` placeholders in header values are replaced for secrets bound to the rule
//!    that allowed the request, and only then (the guest never holds a value);
//! 3. the host name is resolved and every address judged ([`EgressRule::admits`]): the connection
//!    goes to an address that passed, never to the name again, so a DNS answer cannot reach past
//!    the rules; none passing is `destination-ip-prohibited`;
//! 4. the request body is cut at `max-request-bytes`, the response body at `max-response-bytes`
//!    (`http-request-body-size` / `http-response-body-size`); at most `max-concurrent` requests of
//!    one instance are in flight (`connection-limit-reached`); connecting, sending and reading all
//!    end at the request's timeout or the call's deadline, whichever is first (the guest's connect
//!    and first-byte timeouts, when it sets them, may end the wait for the head sooner).
//!
//! Redirects are the guest's to follow, each a new request judged again. Every request is counted
//! per agent (sent, denied, failed) and reported to the [`EgressWatch`] (the runtime's audit log);
//! the last denial of a call is kept so that a call ending `denied` can name the rule.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tandem_manifest::egress::{Egress, EgressDenied, EgressRule, Host};
use tandem_manifest::secrets::Secrets;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime::component::Linker;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{
    Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::sandbox::StoreData;
use crate::stats::AgentStats;

/// Where the outcome of every request goes: defined here, implemented by the runtime (its audit
/// log).
pub trait EgressWatch: Send + Sync {
    /// A request was sent (and answered), denied, or failed.
    fn egress(&self, record: &EgressRecord);
}

/// What happened to one outbound request. Holds no header, body or secret.
#[derive(Debug, Clone)]
pub struct EgressRecord {
    /// The agent that made it.
    pub agent: Arc<str>,
    /// The call it was made in.
    pub trace_id: String,
    /// The agents that delegated down to that call.
    pub chain: Vec<String>,
    /// `METHOD scheme://authority/path` (the query left out).
    pub request: String,
    /// The rule that allowed it, when one did.
    pub rule: Option<String>,
    /// What became of it.
    pub outcome: EgressOutcome,
    /// From the guest's `handle` to the response's head (or the failure).
    pub duration: Duration,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressOutcome {
    /// Answered with this status.
    Sent(u16),
    /// Refused by the rules, saying why.
    Denied(String),
    /// Allowed, but it failed (connection, timeout, a size cap, ...).
    Failed(String),
}

impl EgressOutcome {
    /// `sent`, `denied` or `failed`.
    pub fn class(&self) -> &'static str {
        match self {
            EgressOutcome::Sent(_) => "sent",
            EgressOutcome::Denied(_) => "denied",
            EgressOutcome::Failed(_) => "failed",
        }
    }
}

/// The call an instance is running, as its requests are tagged with.
#[derive(Debug, Clone)]
struct CallTag {
    trace_id: String,
    chain: Vec<String>,
    deadline: Instant,
}

/// One instance's egress: the rules and secrets of its agent, the call it runs, its requests in
/// flight and the last denial of the call.
pub struct EgressCtx {
    http: WasiHttpCtx,
    hooks: EgressHooks,
}

struct EgressHooks {
    /// `None`: everything is denied (the interface is not even linked for such an agent).
    egress: Option<Arc<Egress>>,
    secrets: Arc<Secrets>,
    agent: Arc<str>,
    stats: Arc<AgentStats>,
    watch: Weak<dyn EgressWatch>,
    call: Arc<CallTag>,
    in_flight: Arc<AtomicUsize>,
    denial: Arc<Mutex<Option<String>>>,
}

impl EgressCtx {
    /// The egress of an instance of `agent`, with its manifest's rules and secrets.
    pub fn new(
        agent: Arc<str>,
        egress: Option<Arc<Egress>>,
        secrets: Arc<Secrets>,
        stats: Arc<AgentStats>,
        watch: Weak<dyn EgressWatch>,
    ) -> EgressCtx {
        EgressCtx {
            http: WasiHttpCtx::new(),
            hooks: EgressHooks {
                egress,
                secrets,
                agent,
                stats,
                watch,
                call: Arc::new(CallTag {
                    trace_id: String::new(),
                    chain: Vec::new(),
                    deadline: Instant::now(),
                }),
                in_flight: Arc::new(AtomicUsize::new(0)),
                denial: Arc::new(Mutex::new(None)),
            },
        }
    }

    /// Arms the context for a call (only agents granted egress pay for it).
    pub(crate) fn begin_call(
        &mut self,
        agent: &Arc<str>,
        trace_id: &str,
        chain: &[String],
        deadline: Instant,
    ) {
        if self.hooks.egress.is_none() {
            return;
        }
        self.hooks.agent = agent.clone();
        self.hooks.call = Arc::new(CallTag {
            trace_id: trace_id.to_string(),
            chain: chain.to_vec(),
            deadline,
        });
        *lock(&self.hooks.denial) = None;
    }

    /// Why the last request of the current call that the rules refused was refused.
    pub fn last_denial(&self) -> Option<String> {
        self.hooks.egress.as_ref()?;
        lock(&self.hooks.denial).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.egress.http,
            table: &mut self.table,
            hooks: &mut self.egress.hooks,
        }
    }
}

/// Adds `wasi:http/types` and `wasi:http/outgoing-handler`: only to the linker of agents granted
/// `[egress]`, so that a component importing them without a grant does not load.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// The future `send_request` returns: the response and the connection's remaining work.
type Sent = Result<
    (
        Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let report = Report {
            agent: self.agent.clone(),
            stats: self.stats.clone(),
            watch: self.watch.clone(),
            call: self.call.clone(),
            denial: self.denial.clone(),
            request: describe(&request),
            rule: None,
            started: Instant::now(),
        };
        match self.prepare(request, options, report) {
            Ok(outgoing) => Box::new(outgoing.send()),
            Err(error) => Box::new(std::future::ready(Err(error))),
        }
    }
}

/// The longest request description a record carries (the guest chooses the URL).
const MAX_DESCRIPTION_BYTES: usize = 1024;

/// `METHOD scheme://authority/path`, the query left out (it may carry the guest's data), cut at
/// [`MAX_DESCRIPTION_BYTES`].
fn describe(request: &Request<WasiBody>) -> String {
    let uri = request.uri();
    let text = format!(
        "{} {}://{}{}",
        request.method(),
        uri.scheme_str().unwrap_or(""),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    );
    crate::text::truncate(text, MAX_DESCRIPTION_BYTES)
}

impl EgressHooks {
    /// Judges the request by the rules, fills in secrets and takes an in-flight slot.
    fn prepare(
        &mut self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
        mut report: Report,
    ) -> Result<Outgoing, Error> {
        let Some(egress) = self.egress.clone() else {
            return Err(report.denied(&EgressDenied::NoRule {
                method: request.method().to_string(),
                url: report.request.clone(),
                closest: " (the agent's manifest has no [egress])".into(),
            }));
        };
        let uri = request.uri().clone();
        let judged = egress.permit(tandem_manifest::egress::Request {
            scheme: uri.scheme_str().unwrap_or(""),
            authority: uri.authority().map_or("", |a| a.as_str()),
            method: request.method().as_str(),
            path: uri.path_and_query().map_or("/", |p| p.as_str()),
        });
        let permit = match judged {
            Ok(permit) => permit,
            Err(denied) => return Err(report.denied(&denied)),
        };
        let rule = permit.rule.clone();
        report.rule = Some(rule.name.clone());
        for value in request.headers_mut().values_mut() {
            let Ok(text) = value.to_str() else { continue };
            if let std::borrow::Cow::Owned(filled) = self.secrets.substitute(&rule.name, text) {
                // Secrets hold no control character (checked when read), so this cannot fail.
                *value = HeaderValue::from_str(&filled).map_err(|_| {
                    report.failed(Error::InternalError(Some(
                        "a secret is not a header value".into(),
                    )))
                })?;
            }
        }
        let Some(slot) = Slot::take(&self.in_flight, egress.max_concurrent) else {
            return Err(report.failed(Error::ConnectionLimitReached));
        };
        let now = Instant::now();
        let ends = (now + egress.timeout).min(self.call.deadline);
        // The guest's own connect and first-byte timeouts may shorten the wait for the head.
        let asked = options.map_or(Duration::ZERO, |o| {
            o.connect_timeout.unwrap_or_default() + o.first_byte_timeout.unwrap_or_default()
        });
        let head_ends = if asked.is_zero() {
            ends
        } else {
            ends.min(now + asked)
        };
        let limit = egress.max_request_bytes;
        if let Some(length) = content_length(request.headers())
            && length > limit
        {
            return Err(report.failed(Error::HttpRequestBodySize(Some(length))));
        }
        let (parts, body) = request.into_parts();
        let body = Capped::new(body, limit, Error::HttpRequestBodySize(None), None, ends);
        Ok(Outgoing {
            request: Request::from_parts(parts, body.boxed_unsync()),
            https: uri.scheme_str() == Some("https"),
            rule,
            host: permit.host,
            port: permit.port,
            head_ends,
            ends,
            max_response: egress.max_response_bytes,
            slot,
            report,
        })
    }
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// One of an instance's `max-concurrent` requests, held until its response body is done.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(in_flight: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(in_flight.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a request and tells the watch.
struct Report {
    agent: Arc<str>,
    stats: Arc<AgentStats>,
    watch: Weak<dyn EgressWatch>,
    call: Arc<CallTag>,
    denial: Arc<Mutex<Option<String>>>,
    request: String,
    rule: Option<String>,
    started: Instant,
}

impl Report {
    fn record(&self, outcome: EgressOutcome) {
        self.stats.add_egress(outcome.class());
        if let Some(watch) = self.watch.upgrade() {
            watch.egress(&EgressRecord {
                agent: self.agent.clone(),
                trace_id: self.call.trace_id.clone(),
                chain: self.call.chain.clone(),
                request: self.request.clone(),
                rule: self.rule.clone(),
                outcome,
                duration: self.started.elapsed(),
            });
        }
    }

    /// A denial: recorded, kept for the call's error, and the guest's error code.
    fn denied(&self, denied: &EgressDenied) -> Error {
        let reason = denied.to_string();
        tracing::warn!(target: "tandem::egress", agent = %self.agent, trace_id = %self.call.trace_id, "{reason}");
        *lock(&self.denial) = Some(reason.clone());
        self.record(EgressOutcome::Denied(reason));
        match denied {
            EgressDenied::Address { .. } => Error::DestinationIpProhibited,
            _ => Error::HttpRequestDenied,
        }
    }

    fn failed(&self, error: Error) -> Error {
        self.record(EgressOutcome::Failed(describe_error(&error)));
        error
    }
}

/// An error as the audit log shows it.
fn describe_error(error: &Error) -> String {
    match error {
        Error::Connect(e) => format!("cannot connect: {e}"),
        Error::Tls(e) => format!("TLS: {e}"),
        Error::Hyper(e) => format!("HTTP: {e}"),
        other => format!("{other:?}"),
    }
}

/// A request the rules allowed, ready to go.
struct Outgoing {
    request: Request<WasiBody>,
    https: bool,
    rule: EgressRule,
    host: Host,
    port: u16,
    /// When the response's head must have come.
    head_ends: Instant,
    /// When everything must be over.
    ends: Instant,
    max_response: u64,
    slot: Slot,
    report: Report,
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

impl Outgoing {
    async fn send(self) -> Sent {
        let Outgoing {
            mut request,
            https,
            rule,
            host,
            port,
            head_ends,
            ends,
            max_response,
            slot,
            report,
        } = self;
        let exchange = async {
            let address = resolve(&rule, &host, port).await.map_err(|e| match e {
                Refused::Denied(denied) => report.denied(&denied),
                Refused::Failed(error) => report.failed(error),
            })?;
            let fail = |error: Error| report.failed(error);
            let tcp = TcpStream::connect(address)
                .await
                .map_err(|e| fail(Error::Connect(e)))?;
            let _ = tcp.set_nodelay(true);
            let stream: Box<dyn Stream> = if https {
                let name = match &host {
                    Host::Name(name) => rustls::pki_types::ServerName::try_from(name.clone())
                        .map_err(|e| fail(Error::InvalidDnsNameError(e)))?,
                    Host::Address(ip) => rustls::pki_types::ServerName::from(*ip),
                };
                let tls = tokio_rustls::TlsConnector::from(tls_config())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| fail(Error::Tls(e)))?;
                Box::new(tls)
            } else {
                Box::new(tcp)
            };
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| fail(Error::from(e)))?;
            // The origin-form the server expects: the scheme and authority are for a proxy.
            *request.uri_mut() = request.uri().path_and_query().map_or_else(
                || http::Uri::from_static("/"),
                |p| http::Uri::try_from(p.as_str()).unwrap_or_else(|_| http::Uri::from_static("/")),
            );
            let mut conn = Box::pin(conn);
            let mut send = std::pin::pin!(sender.send_request(request));
            let mut driving = true;
            // Wait for the head while driving the connection's I/O.
            let response = std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = send.as_mut().poll(cx) {
                    return Poll::Ready(result.map_err(Error::from));
                }
                if driving && let Poll::Ready(result) = conn.as_mut().poll(cx) {
                    driving = false;
                    if let Err(e) = result {
                        return Poll::Ready(Err(Error::from(e)));
                    }
                    return send.as_mut().poll(cx).map_err(Error::from);
                }
                Poll::Pending
            })
            .await
            .map_err(fail)?;
            Ok::<_, Error>((response, conn, driving))
        };
        let (response, conn, driving) =
            match tokio::time::timeout_at(head_ends.into(), exchange).await {
                Ok(result) => result?,
                Err(_) => return Err(report.failed(Error::HttpResponseTimeout)),
            };
        if let Some(length) = content_length(response.headers())
            && length > max_response
        {
            return Err(report.failed(Error::HttpResponseBodySize(Some(length))));
        }
        report.record(EgressOutcome::Sent(response.status().as_u16()));
        let response = response.map(|body| {
            Capped::new(
                body.map_err(Error::from),
                max_response,
                Error::HttpResponseBodySize(Some(max_response)),
                Some(slot),
                ends,
            )
            .boxed_unsync()
        });
        let io = async move {
            if !driving {
                return Ok(());
            }
            match tokio::time::timeout_at(ends.into(), conn).await {
                Ok(result) => result.map_err(Error::from),
                Err(_) => Err(Error::ConnectionReadTimeout),
            }
        };
        Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
    }
}

/// Why no address could be used.
enum Refused {
    Denied(EgressDenied),
    Failed(Error),
}

/// The address to connect to: the host's own, or the first of its DNS answers the rule admits.
async fn resolve(rule: &EgressRule, host: &Host, port: u16) -> Result<SocketAddr, Refused> {
    let candidates: Vec<IpAddr> = match host {
        Host::Address(ip) => vec![*ip],
        Host::Name(name) => tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|e| {
                Refused::Failed(Error::DnsError {
                    rcode: Some(e.to_string()),
                    info_code: None,
                })
            })?
            .map(|a| a.ip())
            .collect(),
    };
    let mut refusal = None;
    for ip in candidates {
        match rule.admits(host, ip) {
            Ok(()) => return Ok(SocketAddr::new(ip, port)),
            Err(denied) => refusal = refusal.or(Some(denied)),
        }
    }
    Err(match refusal {
        Some(denied) => Refused::Denied(denied),
        None => Refused::Failed(Error::DestinationNotFound),
    })
}

/// The TLS client configuration: the Mozilla roots (webpki-roots), no client certificate.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            // The crate's one provider (ring), as wasmtime-wasi-http's own client does.
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// A body cut at `limit` bytes (`over` is the error then) and at `ends`; it holds the request's
/// in-flight slot, if any, until it is done or dropped.
struct Capped<B> {
    inner: B,
    left: u64,
    over: Option<Error>,
    ends: Pin<Box<tokio::time::Sleep>>,
    _slot: Option<Slot>,
}

impl<B> Capped<B> {
    fn new(inner: B, limit: u64, over: Error, slot: Option<Slot>, ends: Instant) -> Capped<B> {
        Capped {
            inner,
            left: limit,
            over: Some(over),
            ends: Box::pin(tokio::time::sleep_until(ends.into())),
            _slot: slot,
        }
    }
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(_) = this.over else {
            return Poll::Ready(None);
        };
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, |d| d.len() as u64);
                if size > this.left {
                    return Poll::Ready(this.over.take().map(Err));
                }
                this.left -= size;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.ends.as_mut().poll(cx));
                this.over = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.over.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
