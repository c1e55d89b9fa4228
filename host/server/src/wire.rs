//! A connection's byte stream as the server wraps it ([`Wire`]):
//!
//! - **JSON bodies for the answers hyper writes by itself.** When a request cannot be parsed (a
//!   malformed request line or header: 400; headers too large or too many: 431; a URI too long:
//!   414), hyper answers before any handler runs, with an empty body. Exactly those answers (a 4xx
//!   head with `content-length: 0` and no `content-type`: every answer of the API has a JSON body)
//!   are rewritten into the API's JSON error form, so that every error a client gets is JSON.
//! - **A send timeout.** A write that cannot make progress for [`Wire`]'s `send_timeout` (a client
//!   that stopped reading its answer, or an event stream) ends the connection, so that a client
//!   that never reads cannot hold a connection slot for good.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A connection: see the module documentation.
pub struct Wire<T> {
    inner: T,
    /// A rewritten answer still to be written, and how much of it was.
    pending: Vec<u8>,
    written: usize,
    send_timeout: Duration,
    /// Armed while a write waits; reset whenever one makes progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> Wire<T> {
    /// `inner`, with writes that must make progress within `send_timeout`.
    pub fn new(inner: T, send_timeout: Duration) -> Wire<T> {
        Wire {
            inner,
            pending: Vec::new(),
            written: 0,
            send_timeout,
            stalled: None,
        }
    }
}

/// The JSON answer for one of hyper's automatic answers, or `None` when `head` is not one.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let rest = text.strip_prefix("HTTP/1.1 ")?;
    let status = rest.get(..3)?;
    let message = match status {
        "400" => "the request could not be parsed: a malformed request line or header",
        "414" => "the request's URI is too long",
        "431" => {
            "the request's headers are too large or too many (at most 100 headers of about 400 KiB in all)"
        }
        _ => return None,
    };
    let lower = text.to_ascii_lowercase();
    if !text.ends_with("\r\n\r\n")
        || !lower.contains("\r\ncontent-length: 0\r\n")
        || lower.contains("\r\ncontent-type:")
    {
        return None;
    }
    let body =
        serde_json::json!({"error": {"kind": "invalid-input", "message": message}}).to_string();
    let head = text.strip_suffix("\r\n").unwrap_or(text).replacen(
        "content-length: 0\r\n",
        &format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ),
        1,
    );
    Some(format!("{head}\r\n{body}").into_bytes())
}

impl<T: AsyncWrite + Unpin> Wire<T> {
    /// What a write that waits means: nothing yet, or the end of the connection once it has waited
    /// `send_timeout`.
    fn waiting<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let timeout = self.send_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stalled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {timeout:?}"),
            )));
        }
        Poll::Pending
    }

    /// A write made progress: the stall timer starts again from the next wait.
    fn progressed(&mut self) {
        if let Some(stalled) = &mut self.stalled {
            stalled.as_mut().reset(Instant::now() + self.send_timeout);
        }
    }

    /// Writes to the connection, within the send timeout.
    fn poll_inner_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.waiting(cx),
            Poll::Ready(result) => {
                self.progressed();
                Poll::Ready(result)
            }
        }
    }

    /// Writes what is pending; ready once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let pending = std::mem::take(&mut self.pending);
            let polled = self.poll_inner_write(cx, &pending[self.written..]);
            self.pending = pending;
            let n = ready!(polled)?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Wire<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Wire<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if buf.starts_with(b"HTTP/1.1 4")
            && let Some(answer) = rewrite(buf)
        {
            self.pending = answer;
            // Reported written: the rewritten answer goes out before anything else.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        self.poll_inner_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.waiting(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// Not vectored: hyper then writes each answer's head in one buffer, where it can be read.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{Wire, rewrite};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off_after_the_send_timeout() {
        let (server, _client) = tokio::io::duplex(64);
        let mut wire = Wire::new(server, Duration::from_millis(50));
        let error = tokio::time::timeout(Duration::from_secs(10), wire.write_all(&[0u8; 4096]))
            .await
            .expect("the write gives up by itself")
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        // A client that reads keeps it going, however slowly.
        let (server, mut reader) = tokio::io::duplex(64);
        let mut wire = Wire::new(server, Duration::from_millis(50));
        let reading = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            let mut total = 0;
            while total < 4096 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                total += reader.read(&mut buf).await.unwrap();
            }
        });
        wire.write_all(&[0u8; 4096]).await.unwrap();
        reading.await.unwrap();
    }

    #[test]
    fn only_hypers_empty_answers_are_rewritten() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Wed, 25 Nov 2026 13:40:50 GMT\r\n\r\n";
        let answer = String::from_utf8(rewrite(hyper).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["kind"], "invalid-input");
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n";
        assert!(rewrite(ours).is_none());
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
