//! What every request passes before its handler runs (and before its body is read): the `Host` it
//! names (against DNS rebinding), the `Origin` it comes from (against cross-site requests), and the
//! token its endpoint needs.
//!
//! - `Host` must be an IP address, `localhost`, or a name given with `--allow-host`.
//! - An `Origin`, when present, must be the server's own (the request's `Host`) or one given with
//!   `--allow-origin`.
//! - `/healthz` and `/readyz` are open. The admin endpoints (`PUT`, `PATCH` and `DELETE` under
//!   `/v1/agents/`, and `POST` below an agent but `.../invoke`: upload, remove, rollback, canary)
//!   need the admin token. Every other endpoint needs the caller token when one is set (the admin token is
//!   accepted too).
//!
//! A refused request's body is read (a little of it, briefly: [`crate::body::drain`]) before the
//! answer, so that a client still sending it gets the answer rather than a broken connection.
//!
//! A refused token is logged (at most `AUTH_LOGS_PER_SECOND` lines a second, the rest counted)
//! and published as an `auth-failed` event, never the token itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, ServerState};
use tandem::events::EventKind;

/// Who may use an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Open,
    Caller,
    Admin,
}

fn access(method: &Method, path: &str) -> Access {
    match path {
        "/healthz" | "/readyz" => Access::Open,
        // Under /v1/agents/, every write but an invoke changes what is served: PUT, PATCH and
        // DELETE, and a POST to anything below an agent (rollback, canary, ...) but `invoke`.
        _ if path.starts_with("/v1/agents/")
            && (method == Method::PUT
                || method == Method::PATCH
                || method == Method::DELETE
                || (method == Method::POST
                    && path["/v1/agents/".len()..].contains('/')
                    && !path.ends_with("/invoke"))) =>
        {
            Access::Admin
        }
        _ => Access::Caller,
    }
}

/// The middleware: see the module documentation.
pub async fn guard(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    match admit(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            crate::body::drain(request.into_body()).await;
            error.into_response()
        }
    }
}

/// Whether `request` may reach its handler: its `Host`, its `Origin` and its token.
fn admit(state: &ServerState, request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    check_host(state, headers)?;
    check_origin(state, headers)?;
    let needed = access(request.method(), request.uri().path());
    let (expected, other) = match needed {
        Access::Open => (None, None),
        Access::Caller => match &state.config.caller_token {
            Some(caller) => (Some(caller), state.config.admin_token.as_ref()),
            None => (None, None),
        },
        Access::Admin => match &state.config.admin_token {
            Some(admin) => (Some(admin), None),
            None => {
                return Err(refused(
                    state,
                    request,
                    "the admin API is disabled: start the server with an admin token ($TANDEM_ADMIN_TOKEN or --admin-token-file)",
                ));
            }
        },
    };
    if let Some(expected) = expected {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let which = if needed == Access::Admin {
            "admin"
        } else {
            "caller"
        };
        match presented {
            None => {
                let message =
                    format!("this endpoint needs `Authorization: Bearer <{which} token>`");
                return Err(refused(state, request, &message));
            }
            Some(presented)
                if !constant_time_eq(presented.as_bytes(), expected.as_bytes())
                    && !other
                        .is_some_and(|o| constant_time_eq(presented.as_bytes(), o.as_bytes())) =>
            {
                let message = format!("the bearer token is not the {which} token");
                return Err(refused(state, request, &message));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The most `authentication failed` lines logged a second: a client that tries tokens in a loop
/// cannot flood the log; the lines held back are counted in the next one.
const AUTH_LOGS_PER_SECOND: u32 = 10;

/// The log budget of refused tokens.
#[derive(Debug)]
pub struct AuthLogBudget(Mutex<(Instant, u32, u64)>);

impl Default for AuthLogBudget {
    fn default() -> Self {
        AuthLogBudget(Mutex::new((Instant::now(), 0, 0)))
    }
}

impl AuthLogBudget {
    /// Whether a line may be logged now, with how many were held back before it.
    fn take(&self) -> Option<u64> {
        let mut budget = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (window, logged, held_back) = &mut *budget;
        if window.elapsed() >= Duration::from_secs(1) {
            (*window, *logged) = (Instant::now(), 0);
        }
        if *logged >= AUTH_LOGS_PER_SECOND {
            *held_back += 1;
            return None;
        }
        *logged += 1;
        Some(std::mem::take(held_back))
    }
}

/// A refused token: logged (within [`AUTH_LOGS_PER_SECOND`]), published, answered 401.
fn refused(state: &ServerState, request: &Request, reason: &str) -> ApiError {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.to_string())
        .unwrap_or_default();
    let endpoint = format!("{} {}", request.method(), request.uri().path());
    let endpoint = tandem::text::truncate(endpoint, 256);
    if let Some(held_back) = state.auth_logs.take() {
        tracing::warn!(%peer, %endpoint, reason, held_back, "authentication failed");
    }
    state.host.events().publish(EventKind::AuthFailed {
        endpoint,
        peer,
        reason: reason.to_string(),
    });
    ApiError::Unauthorized(reason.to_string())
}

/// The host part of a `Host` value or an origin's authority: `name`, `1.2.3.4`, `::1`.
fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

fn check_host(state: &ServerState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(host) = headers.get(header::HOST) else {
        return Ok(());
    };
    let value = host.to_str().unwrap_or("");
    let name = host_part(value);
    let allowed = name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || state.config.allowed_hosts.iter().any(|allowed| {
            allowed.eq_ignore_ascii_case(name) || allowed.eq_ignore_ascii_case(value)
        });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::ForeignHost(tandem::text::truncate(
            value.to_string(),
            256,
        )))
    }
}

fn check_origin(state: &ServerState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let authority = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    let own = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| !authority.is_empty() && host.eq_ignore_ascii_case(authority));
    if own || state.config.allowed_origins.iter().any(|o| o == origin) {
        Ok(())
    } else {
        Err(ApiError::CrossSite(tandem::text::truncate(
            origin.to_string(),
            256,
        )))
    }
}

/// Compares without returning early, so the time taken says nothing about where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_classified_by_method_and_path() {
        assert_eq!(access(&Method::GET, "/healthz"), Access::Open);
        assert_eq!(access(&Method::GET, "/v1/agents/echo"), Access::Caller);
        assert_eq!(
            access(&Method::POST, "/v1/agents/echo/invoke"),
            Access::Caller
        );
        assert_eq!(access(&Method::PUT, "/v1/agents/echo"), Access::Admin);
        assert_eq!(access(&Method::DELETE, "/v1/agents/echo"), Access::Admin);
        assert_eq!(
            access(&Method::POST, "/v1/agents/echo/rollback"),
            Access::Admin
        );
        assert_eq!(access(&Method::GET, "/metrics"), Access::Caller);
        for (method, path) in [
            (Method::POST, "/v1/agents/echo/canary"),
            (Method::PATCH, "/v1/agents/echo/canary"),
            (Method::POST, "/v1/agents/echo/canary/promote"),
            (Method::POST, "/v1/agents/echo/canary/abort"),
            (Method::POST, "/v1/agents/echo/anything-new"),
        ] {
            assert_eq!(access(&method, path), Access::Admin, "{method} {path}");
        }
        // No such endpoint: the router answers 405 or 404, whoever asks.
        assert_eq!(access(&Method::POST, "/v1/agents/echo"), Access::Caller);
    }

    #[test]
    fn refused_tokens_are_logged_within_a_budget() {
        let budget = AuthLogBudget::default();
        for _ in 0..AUTH_LOGS_PER_SECOND {
            assert_eq!(budget.take(), Some(0));
        }
        assert_eq!(budget.take(), None);
        assert_eq!(budget.take(), None);
        budget.0.lock().unwrap().0 -= Duration::from_secs(2);
        assert_eq!(
            budget.take(),
            Some(2),
            "the next line counts those held back"
        );
    }

    #[test]
    fn host_parts_strip_ports_and_brackets() {
        assert_eq!(host_part("127.0.0.1:7878"), "127.0.0.1");
        assert_eq!(host_part("[::1]:7878"), "::1");
        assert_eq!(host_part("localhost"), "localhost");
        assert_eq!(host_part("evil.example:80"), "evil.example");
    }
}
