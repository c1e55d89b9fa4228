//! Guest stdout/stderr into the host's log, when the manifest says `stdio = "log"`: each line
//! becomes a record on target `tandem::stdio`, tagged with the agent and the stream. Lines are cut at
//! 4 KiB and a stream may write at most [`LINES_PER_SECOND`] lines a second; the rest are dropped
//! and counted, so a guest printing in a loop cannot flood the host.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

const MAX_LINE_BYTES: usize = 4096;
pub const LINES_PER_SECOND: u32 = 1000;

/// A guest output stream that ends up in the host's log.
#[derive(Clone)]
pub struct LogStream {
    agent: Arc<str>,
    stream: &'static str,
}

impl LogStream {
    /// The `stream` (`stdout` or `stderr`) of `agent`.
    pub fn new(agent: Arc<str>, stream: &'static str) -> LogStream {
        LogStream { agent, stream }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            agent: self.agent.clone(),
            stream: self.stream,
            line: Vec::new(),
            window_start: Instant::now(),
            lines_in_window: 0,
            dropped: 0,
        })
    }
}

struct LineWriter {
    agent: Arc<str>,
    stream: &'static str,
    line: Vec<u8>,
    window_start: Instant,
    lines_in_window: u32,
    dropped: u64,
}

impl LineWriter {
    fn emit(&mut self) {
        if self.window_start.elapsed().as_secs() >= 1 {
            if self.dropped > 0 {
                tracing::warn!(target: "tandem::stdio", agent = &*self.agent, stream = self.stream, dropped = self.dropped, "output lines dropped: over {LINES_PER_SECOND} lines a second");
            }
            self.window_start = Instant::now();
            self.lines_in_window = 0;
            self.dropped = 0;
        }
        if self.lines_in_window >= LINES_PER_SECOND {
            self.dropped += 1;
        } else {
            self.lines_in_window += 1;
            let text = String::from_utf8_lossy(&self.line);
            tracing::info!(target: "tandem::stdio", agent = &*self.agent, stream = self.stream, "{}", text.trim_end_matches('\r'));
        }
        self.line.clear();
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' {
                self.emit();
            } else if self.line.len() < MAX_LINE_BYTES {
                self.line.push(byte);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.line.is_empty() {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}
