//! Serving the API until a signal, then shutting down gracefully (see the crate documentation).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::connections;
use crate::router::router;
use crate::state::ServerState;

/// Serves the API on `listener` until `signal` resolves (or [`ServerState::shut_down`] is called),
/// then shuts down gracefully: see the crate documentation.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = tokio::spawn({
        let state = state.clone();
        async move {
            tokio::select! {
                () = signal => state.shut_down(),
                () = state.stopping.cancelled() => {}
            }
            tokio::time::sleep(state.config.grace).await;
            if !state.stopped.is_cancelled() {
                tracing::warn!("grace period over: stopping the calls still running");
                state.stopped.cancel();
            }
        }
    });
    // Triggers run while the server takes work, and stop when it begins to shut down.
    let triggers = tokio::spawn({
        let (run, stopping) = (state.host.run_triggers(), state.stopping.clone());
        async move {
            tokio::select! {
                () = run => {}
                () = stopping.cancelled() => {}
            }
        }
    });
    let app = router(state.clone());
    let server = connections::serve(
        listener,
        app,
        state.config.connections,
        state.stopping.clone(),
    );
    // A connection that never finishes its request (a stalled upload, say) must not hold the
    // process after the grace period: give it one more second.
    let outlived = async {
        state.stopped.cancelled().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let result = tokio::select! {
        () = server => Ok(()),
        () = outlived => {
            tracing::warn!("connections still open after the grace period: closing them");
            Ok(())
        }
    };
    watcher.abort();
    triggers.abort();
    state.host.clone().flush_audit().await?;
    result
}
