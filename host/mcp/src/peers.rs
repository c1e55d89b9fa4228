//! The clients connected to this MCP server, and telling them when the tool list changed: an agent
//! loaded, swapped, rolled back or removed (hot swap from `--watch`, the same events `GET /events`
//! shows). A client that fell behind the event stream is told too (it lists again); one whose
//! transport closed is forgotten.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::{Peer, RoleServer};
use tandem::Host;
use tandem::events::{EventKind, Received};

/// How long a notification may wait for a session's transport (a client that stopped reading).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The sessions that finished initializing.
#[derive(Default)]
pub struct Peers {
    peers: Mutex<Vec<Peer<RoleServer>>>,
}

impl Peers {
    /// Adds a session's peer.
    pub fn join(&self, peer: Peer<RoleServer>) {
        let mut peers = self.lock();
        peers.retain(|p| !p.is_transport_closed());
        peers.push(peer);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Peer<RoleServer>>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `notifications/tools/list_changed` to every connected session. A session that cannot
    /// take it within [`SEND_TIMEOUT`] is skipped (it sees the new list on its next `tools/list`).
    async fn tool_list_changed(&self) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = self.lock();
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            match tokio::time::timeout(SEND_TIMEOUT, peer.notify_tool_list_changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(target: "tandem::mcp", "a session missed tools/list_changed: {e}")
                }
                Err(_) => {
                    tracing::debug!(target: "tandem::mcp", "a session did not take tools/list_changed in time")
                }
            }
        }
    }

    /// Forwards changes of `host`'s agent set to the sessions until the host's event bus closes.
    pub async fn follow(self: Arc<Self>, host: Arc<Host>) {
        let mut events = host.events().subscribe();
        loop {
            let changed = match events.recv().await {
                Received::Event(event) => matches!(
                    event.kind,
                    EventKind::AgentLoaded { .. }
                        | EventKind::AgentSwapped { .. }
                        | EventKind::AgentRemoved { .. }
                ),
                Received::Missed(_) => true,
                Received::Closed => return,
            };
            if changed {
                self.tool_list_changed().await;
            }
        }
    }
}
