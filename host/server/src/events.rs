//! `GET /events`: the live event stream as Server-Sent Events, at a cost that does not grow with
//! the call rate.
//!
//! Each event's JSON is made once, whoever reads it. A subscriber wakes for the first event that
//! arrives, takes every event waiting then (up to [`MAX_BATCH`]) into one write, and then rests for
//! [`COALESCE`] before it listens again: while it rests, publishing does not wake it, so a call costs
//! the same with 50 idle subscribers as with none. A subscriber that falls more than the bus's
//! capacity behind loses the oldest events and gets a `missed` event saying how many. The number of
//! subscribers is bounded (`--max-subscribers`).

use std::convert::Infallible;
use std::fmt::Write;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use tandem::events::{Received, Subscription};

/// The most events put into one write.
pub const MAX_BATCH: usize = 512;

/// How long a subscriber rests between writes.
pub const COALESCE: Duration = Duration::from_millis(20);

/// A comment sent when nothing happened for this long, so that proxies keep the stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

struct Subscriber {
    subscription: Subscription,
    stopping: CancellationToken,
    /// The subscriber's slot among `--max-subscribers`, given back when the stream ends.
    _slot: OwnedSemaphorePermit,
    rested: bool,
    /// Shutdown began: what was waiting has been sent, the stream ends.
    finished: bool,
}

/// The body of a `GET /events` answer.
pub fn body(
    subscription: Subscription,
    slot: OwnedSemaphorePermit,
    stopping: CancellationToken,
) -> Body {
    let subscriber = Subscriber {
        subscription,
        stopping,
        _slot: slot,
        rested: true,
        finished: false,
    };
    let stream = futures::stream::unfold(subscriber, |mut s| async move {
        if s.finished {
            return None;
        }
        if !s.rested {
            tokio::select! {
                () = tokio::time::sleep(COALESCE) => {}
                () = s.stopping.cancelled() => {}
            }
        }
        // At shutdown, what is waiting (the `shutdown` event among it) is still sent, then the
        // stream ends.
        let first = tokio::select! {
            biased;
            received = s.subscription.recv(), if !s.stopping.is_cancelled() => received,
            () = s.stopping.cancelled() => {
                s.finished = true;
                match s.subscription.try_recv() {
                    Some(received) => received,
                    None => return None,
                }
            }
            () = tokio::time::sleep(KEEP_ALIVE) => {
                s.rested = true;
                return Some((Ok::<_, Infallible>(Bytes::from_static(b": keep-alive\n\n")), s));
            }
        };
        let mut text = String::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(received) = next {
            match received {
                Received::Event(event) => {
                    let _ = write!(
                        text,
                        "event: {}\nid: {}\ndata: {}\n\n",
                        event.kind.name(),
                        event.seq,
                        event.json()
                    );
                }
                Received::Missed(n) => {
                    let _ = write!(text, "event: missed\ndata: {{\"missed\":{n}}}\n\n");
                }
                Received::Closed => break,
            }
            taken += 1;
            next = if taken < MAX_BATCH {
                s.subscription.try_recv()
            } else {
                None
            };
        }
        if text.is_empty() {
            return None;
        }
        s.rested = false;
        Some((Ok(Bytes::from(text)), s))
    });
    Body::from_stream(stream)
}
