//! # Several hosts sharing the work over NATS
//!
//! `tandem serve --nats nats://HOST:PORT` joins a cluster ([`Cluster::join`]): the host subscribes
//! to the calls of every agent it serves in a queue group, and hands every call that may leave it
//! (the HTTP API, a guest's delegation, a graph node, a trigger) to the group, where NATS gives it
//! to one host that serves the agent. The host that takes a call answers it or returns a classified
//! error; one without room refuses it as busy and the caller places it again.
//!
//! # Layout
//! - [`wire`]: subjects, the headers a call carries, the replies.
//! - `caller`: placing a call and following the host that took it.
//! - `responder`: the agents' subscriptions, the room for taken calls, running them.
//! - `inbox`: one subscription for the replies to every call this host places.
//! - [`versions`]: the same version of each agent on every host (key-value and object store).
//! - [`state`]: the agents' durable state, one key-value entry per agent, compare-and-swap.
//! - `buckets`: opening the JetStream buckets.

#![deny(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use futures::future::BoxFuture;
use tandem::dispatch::{HostCensus, Origin, Peers};
use tandem::error::Site;
use tandem::host::Host;
use tandem::{CallError, Response};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod buckets;
mod caller;
mod inbox;
mod responder;
pub mod state;
pub mod versions;
pub mod wire;

pub use caller::{ACCEPT_WAIT, LOST_AFTER};

/// How long a census waits for the hosts' answers.
pub const CENSUS_WAIT: Duration = Duration::from_millis(500);

/// The most hosts a census lists.
const MOST_HOSTS: usize = 1024;

/// The longest this host waits on its NATS connection for one thing (a flush, a reply sent, a
/// subscription drained): a connection that is down must not hold up a call or a shutdown.
pub const NATS_WAIT: Duration = Duration::from_secs(2);

/// Flushes the connection, at most [`NATS_WAIT`]; `what` names what is flushed in the log line.
async fn flush(client: &Client, what: &str) {
    match tokio::time::timeout(NATS_WAIT, client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "cluster: cannot flush {what}"),
        Err(_) => tracing::warn!("cluster: cannot flush {what} in {NATS_WAIT:?}"),
    }
}

/// Why a host could not join a cluster.
// The fields are what each variant's message shows.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    /// A subscription was refused.
    #[error("cannot subscribe on NATS at {url}: {source}")]
    Subscribe {
        url: String,
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The host id is not a name.
    #[error("the host id `{0}` is not a name: 1-64 characters of a-z, 0-9 and `-`")]
    HostId(String),
    /// JetStream's buckets could not be opened (is the server run with `-js`?).
    #[error("NATS at {url}: {reason} (the server must run with JetStream: `nats-server -js`)")]
    JetStream { url: String, reason: String },
}

/// `url` as logs and errors may show it: without the credentials a `user:password@` part holds.
pub fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A connection to the NATS server at `url`, named `name` in the server's view of its clients;
/// the error shows the URL without its credentials.
async fn connect(url: &str, name: String) -> Result<Client, ClusterError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|source| ClusterError::Connect {
            url: shown(url),
            source,
        })
}

/// How a host joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// This host's id (a name: a-z, 0-9, `-`).
    pub host_id: String,
    /// The largest component fetched from the cluster's object store.
    pub max_component_bytes: usize,
    /// Where the host's own calls run.
    pub placement: Placement,
}

/// Where a host's own calls (its HTTP API's, its guests' delegations, ...) run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Placement {
    /// On whichever host of the cluster NATS gives the call to: the load spreads over the hosts
    /// that serve the agent, each call one NATS round trip longer.
    #[default]
    Spread,
    /// On this host when it serves the agent and has room; through the cluster otherwise (an
    /// agent it does not serve, a full room): no round trip while this host keeps up.
    Local,
}

/// This host's link to its peers (the runtime's [`Peers`]): places its calls, tells its version
/// changes.
struct Link {
    client: Client,
    inbox: Arc<inbox::Inbox>,
    versions: Arc<versions::Versions>,
    responder: Arc<responder::Responder>,
    placement: Placement,
}

impl Peers for Link {
    fn call(
        &self,
        agent: String,
        operation: String,
        input: String,
        origin: Origin,
    ) -> BoxFuture<'static, Result<Response, CallError>> {
        if self.placement == Placement::Local
            && let Some(room) = self.responder.room_for(&agent)
        {
            let responder = self.responder.clone();
            return Box::pin(async move {
                let origin = Origin {
                    here: true,
                    ..origin
                };
                let result = responder
                    .host
                    .invoke_from(&agent, &operation, input, origin)
                    .await;
                drop(room);
                result.map(|response| Response {
                    served_by: Some(responder.host_id.clone()),
                    ..response
                })
            });
        }
        let (client, inbox) = (self.client.clone(), self.inbox.clone());
        Box::pin(async move {
            let site = Site { agent, operation };
            caller::place(&client, &inbox, &site, input, &origin).await
        })
    }

    fn versions_changed(&self, agent: &str) {
        self.versions.changed(agent);
    }

    fn census(&self) -> BoxFuture<'static, Vec<HostCensus>> {
        let (client, inbox) = (self.client.clone(), self.inbox.clone());
        Box::pin(async move {
            let mut waiting = inbox.wait_for(MOST_HOSTS);
            let ask = client.publish_with_reply(wire::CENSUS, waiting.subject.clone(), "".into());
            if !matches!(tokio::time::timeout(NATS_WAIT, ask).await, Ok(Ok(()))) {
                tracing::warn!("cluster: cannot ask the hosts for their census");
                return Vec::new();
            }
            let until = tokio::time::Instant::now() + CENSUS_WAIT;
            let mut hosts = Vec::new();
            while hosts.len() < MOST_HOSTS {
                let Ok(Some(answer)) = tokio::time::timeout_at(until, waiting.next()).await else {
                    break;
                };
                match serde_json::from_slice::<HostCensus>(&answer.payload) {
                    Ok(census) => hosts.push(census),
                    Err(error) => tracing::warn!(%error, "cluster: an unreadable census answer"),
                }
            }
            hosts.sort_by(|a, b| a.host.cmp(&b.host));
            hosts
        })
    }
}

/// A host's membership of a cluster, from [`join`](Cluster::join) to [`leave`](Cluster::leave).
pub struct Cluster {
    client: Client,
    host_id: String,
    leaving: CancellationToken,
    room: Arc<Semaphore>,
    capacity: u32,
    following: JoinHandle<()>,
    /// Held here: the host keeps only a weak reference.
    _link: Arc<dyn Peers>,
}

impl Cluster {
    /// Connects to the NATS server as `host_id`, subscribes to the calls of the agents `host`
    /// serves (and follows them as they change), hands the host's calls to the cluster, and keeps
    /// the versions it serves the cluster's. The host takes at most its instance bound of calls
    /// from the cluster at once.
    pub async fn join(config: ClusterConfig, host: Arc<Host>) -> Result<Cluster, ClusterError> {
        let ClusterConfig {
            url,
            host_id,
            max_component_bytes,
            placement,
        } = config;
        if !tandem::manifest::is_valid_name(&host_id) {
            return Err(ClusterError::HostId(host_id));
        }
        let client = connect(&url, format!("tandem {host_id}")).await?;
        // What errors show of the URL: never its credentials.
        let url = shown(&url);
        let url = url.as_str();
        let subscribe_error = |source| ClusterError::Subscribe {
            url: url.to_string(),
            source,
        };
        let jetstream_error = |reason| ClusterError::JetStream {
            url: url.to_string(),
            reason,
        };
        // The buckets first: the state is shared before the host takes its first call from the
        // cluster.
        let jetstream = async_nats::jetstream::new(client.clone());
        let shared = state::SharedKv::open(&jetstream)
            .await
            .map_err(jetstream_error)?;
        let versions = versions::Versions::open(
            &jetstream,
            host.clone(),
            host_id.clone(),
            max_component_bytes,
        )
        .await
        .map_err(jetstream_error)?;
        host.state().share(Arc::new(shared));
        let capacity = host.engine_limits().max_instances;
        let room = Arc::new(Semaphore::new(capacity as usize));
        let leaving = CancellationToken::new();
        let responder = Arc::new(responder::Responder {
            client: client.clone(),
            host: host.clone(),
            host_id: host_id.clone(),
            room: room.clone(),
            rooms: std::sync::Mutex::default(),
            leaving: leaving.clone(),
        });
        let mut subscriptions = responder::Subscriptions::default();
        responder
            .follow_agents(&mut subscriptions)
            .await
            .map_err(subscribe_error)?;
        let inbox = inbox::Inbox::open(&client).await.map_err(subscribe_error)?;
        let questions = client
            .subscribe(wire::CENSUS)
            .await
            .map_err(subscribe_error)?;
        // The subscriptions reach the server before the host says it joined.
        flush(&client, "the subscriptions").await;
        let link: Arc<dyn Peers> = Arc::new(Link {
            client: client.clone(),
            inbox,
            versions: versions.clone(),
            responder: responder.clone(),
            placement,
        });
        host.join(Arc::downgrade(&link), &host_id);
        tokio::spawn(versions.clone().publish_changes(leaving.clone()));
        tokio::spawn(versions.follow(leaving.clone()));
        tokio::spawn(responder.clone().answer_census(questions));
        let following = tokio::spawn(responder.keep_following(subscriptions));
        Ok(Cluster {
            client,
            host_id,
            leaving,
            room,
            capacity,
            following,
            _link: link,
        })
    }

    /// This host's id in the cluster.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Leaves the cluster: stops taking calls (those NATS already sent here are refused as busy,
    /// so their callers place them elsewhere), then waits up to `grace` for the calls taken from
    /// other hosts to be answered. Calls this host places still go through the cluster meanwhile.
    pub async fn leave(self, grace: Duration) {
        self.leaving.cancel();
        let _ = tokio::time::timeout(grace, self.following).await;
        let all = self.room.acquire_many(self.capacity);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(grace = ?grace, "cluster: calls taken from other hosts still run after the grace period");
        }
        flush(&self.client, "the last replies").await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_a_url_are_never_shown() {
        assert_eq!(
            super::shown("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
        assert_eq!(
            super::shown("nats://tandem:s3cret@nats.internal:4222"),
            "nats://***@nats.internal:4222"
        );
        assert_eq!(
            super::shown("tls://token@nats:4222/x"),
            "tls://***@nats:4222/x"
        );
        assert_eq!(super::shown("nats:4222"), "nats:4222");
    }
}
