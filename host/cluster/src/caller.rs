//! Placing a call on the cluster: publish it to the agent's queue group,
//! place it again while the host NATS picked is busy (nothing ran there), then follow the host that
//! accepted it until it answers. Every wait is bounded: the caller's deadline, [`ACCEPT_WAIT`] for
//! a host to take the call, [`LOST_AFTER`] of silence from the host that took it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::Client;
use bytes::Bytes;
use tandem::dispatch::Origin;
use tandem::error::Site;
use tandem::{CallError, ErrorKind, Response};

use crate::inbox::Inbox;
use crate::wire::{self, Reply};

/// How long a host has to take (or refuse) a call before it is placed again.
pub const ACCEPT_WAIT: Duration = Duration::from_secs(2);

/// How long the host that took a call may stay silent (it says it is alive every second) before
/// the call is reported lost.
pub const LOST_AFTER: Duration = Duration::from_millis(3500);

/// Times a call is placed again after no host took it in [`ACCEPT_WAIT`].
const UNTAKEN_TRIES: u32 = 3;

/// The longest pause before placing again a call every host refused as busy.
const MOST_BUSY_PAUSE: Duration = Duration::from_millis(50);

fn error(site: &Site, kind: ErrorKind, reason: String) -> CallError {
    CallError::Remote {
        site: site.clone(),
        kind,
        reason,
    }
}

/// Runs `site` with `input` on a host of the cluster, with what the call inherits.
pub async fn place(
    client: &Client,
    inbox: &Arc<Inbox>,
    site: &Site,
    input: String,
    origin: &Origin,
) -> Result<Response, CallError> {
    let subject = wire::invoke_subject(&site.agent);
    let mut headers = wire::call_headers(&site.operation, origin);
    let body = Bytes::from(input);
    let (mut untaken, mut busy_pause) = (0, Duration::from_millis(1));
    loop {
        let accept_by = Instant::now() + ACCEPT_WAIT;
        if let Some(deadline) = origin.deadline {
            if deadline <= Instant::now() {
                let reason = format!(
                    "{site}: the deadline passed before a host of the cluster took the call"
                );
                return Err(error(site, ErrorKind::Timeout, reason));
            }
            wire::set_time_left(&mut headers, deadline);
        }
        let wait_until = origin.deadline.map_or(accept_by, |d| d.min(accept_by));
        // While the connection is down nothing can be placed: say so now rather than after the
        // waits for a host to take the call.
        if client.connection_state() != async_nats::connection::State::Connected {
            let reason = format!("{site}: this host is not connected to the cluster's NATS server");
            return Err(error(site, ErrorKind::Unavailable, reason));
        }
        let mut waiting = inbox.wait();
        let publish = client.publish_with_reply_and_headers(
            subject.clone(),
            waiting.subject.clone(),
            headers.clone(),
            body.clone(),
        );
        match tokio::time::timeout_at(wait_until.into(), publish).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let reason = format!("{site}: cannot send the call to the cluster: {e}");
                return Err(error(site, ErrorKind::Unavailable, reason));
            }
            Err(_) => {
                let reason = format!("{site}: the call could not be sent to the cluster in time");
                return Err(error(site, ErrorKind::Unavailable, reason));
            }
        }
        let first = tokio::time::timeout_at(wait_until.into(), waiting.next()).await;
        let reply = match first {
            Err(_) if origin.deadline.is_some_and(|d| d <= Instant::now()) => {
                let reason = format!(
                    "{site}: the deadline passed before a host of the cluster took the call"
                );
                return Err(error(site, ErrorKind::Timeout, reason));
            }
            Err(_) => {
                untaken += 1;
                if untaken > UNTAKEN_TRIES {
                    let reason = format!(
                        "{site}: no host of the cluster took the call ({} tries of {ACCEPT_WAIT:?})",
                        untaken
                    );
                    return Err(error(site, ErrorKind::Unavailable, reason));
                }
                tracing::warn!(%site, "no host took the call in {ACCEPT_WAIT:?}; placing it again");
                continue;
            }
            Ok(None) => return Err(connection_closed(site)),
            Ok(Some(message)) => Reply::read(message).map_err(|e| protocol(site, e))?,
        };
        match reply {
            None => {
                let reason = format!(
                    "{site}: no host of the cluster serves agent `{}`",
                    site.agent
                );
                return Err(error(site, ErrorKind::Unavailable, reason));
            }
            Some(Reply::Busy { .. }) => {
                // Nothing ran: NATS picks a host of the group again (perhaps the same one).
                let pause = busy_pause.mul_f64(0.5 + fastrand::f64());
                tokio::time::sleep(pause).await;
                busy_pause = (busy_pause * 2).min(MOST_BUSY_PAUSE);
            }
            Some(Reply::Accepted { host }) => {
                return follow(site, waiting, &host, origin.deadline).await;
            }
            Some(other) => return answer(site, other),
        }
    }
}

/// Waits for the answer of `host`, which took the call: at most [`LOST_AFTER`] between two of its
/// messages, and, when the call has a deadline, at most [`LOST_AFTER`] past it (the host ends the
/// call by its deadline; one that keeps saying it is alive past that is not believed).
async fn follow(
    site: &Site,
    mut waiting: crate::inbox::Waiting,
    host: &str,
    deadline: Option<Instant>,
) -> Result<Response, CallError> {
    let give_up = deadline.map(|d| d + LOST_AFTER);
    loop {
        let next = Instant::now() + LOST_AFTER;
        let until = give_up.map_or(next, |g| g.min(next));
        let message = match tokio::time::timeout_at(until.into(), waiting.next()).await {
            Ok(Some(message)) => message,
            Ok(None) => return Err(connection_closed(site)),
            Err(_) if give_up.is_some_and(|g| g <= Instant::now()) => {
                let reason = format!(
                    "{site}: host `{host}` took the call and has not answered {LOST_AFTER:?} past \
                     its deadline (the call may have run)"
                );
                return Err(error(site, ErrorKind::Timeout, reason));
            }
            Err(_) => {
                let reason = format!(
                    "{site}: host `{host}` took the call and has not answered for {LOST_AFTER:?} \
                     (it may have stopped; the call may have run)"
                );
                return Err(error(site, ErrorKind::Unavailable, reason));
            }
        };
        match Reply::read(message).map_err(|e| protocol(site, e))? {
            Some(Reply::Alive) => continue,
            Some(reply) => return answer(site, reply),
            None => {
                return Err(protocol(
                    site,
                    "no responders after the call was taken".into(),
                ));
            }
        }
    }
}

/// The call's result from a host's final reply.
fn answer(site: &Site, reply: Reply) -> Result<Response, CallError> {
    match reply {
        Reply::Output { response, .. } => Ok(response),
        Reply::Error {
            host,
            kind,
            message,
        } => Err(error(site, kind, format!("{message} (on host `{host}`)"))),
        other => Err(protocol(site, format!("an unexpected reply: {other:?}"))),
    }
}

fn connection_closed(site: &Site) -> CallError {
    let reason =
        format!("{site}: the connection to the cluster closed before the call was answered");
    error(site, ErrorKind::Unavailable, reason)
}

fn protocol(site: &Site, problem: String) -> CallError {
    let reason =
        format!("{site}: a host of the cluster answered what this host cannot read: {problem}");
    error(site, ErrorKind::Internal, reason)
}
