//! Taking calls from the cluster: one queue subscription per agent this host serves (following the
//! registry as agents are added and removed), a bounded room for calls taken from other hosts, and
//! the replies: `busy` when the room is full (the call is placed elsewhere, nothing waits here),
//! else `accepted`, `alive` every second while the call runs, then its result.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, Subject, Subscriber};
use futures::StreamExt;
use tandem::host::Host;
use tandem::{ErrorKind, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::wire::{self, Call, Reply};

/// How often the agents the host serves are compared with its subscriptions.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// What every agent's subscription shares.
pub struct Responder {
    pub(crate) client: Client,
    pub(crate) host: Arc<Host>,
    pub(crate) host_id: String,
    /// Calls taken from the cluster and still running, all agents together: at most the host's
    /// instance bound.
    pub(crate) room: Arc<Semaphore>,
    /// Each agent's calls running here, at most its `max-instances`: one more would wait for an
    /// instance here while another host may have one free.
    pub(crate) rooms: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Cancelled when the host leaves: stop taking calls.
    pub(crate) leaving: CancellationToken,
}

/// One agent's calls taken from the cluster.
struct Taking {
    agent: String,
    /// Its room (see [`Responder::rooms`]).
    room: Arc<Semaphore>,
}

/// A place for one call on this host: in its agent's room and in the host's.
pub type Room = (OwnedSemaphorePermit, OwnedSemaphorePermit);

/// The agents' subscriptions, each served by a task of its own.
#[derive(Default)]
pub struct Subscriptions {
    tasks: HashMap<String, JoinHandle<()>>,
}

impl Responder {
    /// Subscribes to the calls of every agent the host serves that has no subscription yet and
    /// drops those of agents it no longer serves.
    pub async fn follow_agents(
        self: &Arc<Self>,
        subscriptions: &mut Subscriptions,
    ) -> Result<(), async_nats::SubscribeError> {
        let serving: Vec<(String, usize)> = self
            .host
            .agents()
            .iter()
            .map(|agent| (agent.id().to_string(), agent.policy().limits.max_instances))
            .collect();
        subscriptions.tasks.retain(|id, task| {
            let keep = serving.iter().any(|(serving, _)| serving == id) && !task.is_finished();
            if !keep {
                task.abort();
                self.rooms().remove(id);
            }
            keep
        });
        for (id, instances) in serving {
            if let Entry::Vacant(slot) = subscriptions.tasks.entry(id) {
                let subject = wire::invoke_subject(slot.key());
                let subscriber = self
                    .client
                    .queue_subscribe(subject, wire::QUEUE_GROUP.to_string())
                    .await?;
                let room = Arc::new(Semaphore::new(instances));
                self.rooms().insert(slot.key().clone(), room.clone());
                let taking = Taking {
                    agent: slot.key().clone(),
                    room,
                };
                slot.insert(tokio::spawn(self.clone().take_calls(taking, subscriber)));
            }
        }
        Ok(())
    }

    /// Follows the registry until the host leaves.
    pub async fn keep_following(self: Arc<Self>, mut subscriptions: Subscriptions) {
        let mut generation = self.host.generation();
        loop {
            tokio::select! {
                () = self.leaving.cancelled() => break,
                () = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            let now = self.host.generation();
            if now == generation {
                continue;
            }
            generation = now;
            if let Err(error) = self.follow_agents(&mut subscriptions).await {
                tracing::error!(%error, "cluster: cannot subscribe to an agent's calls");
            }
        }
        // Each task drains its own subscription when it sees `leaving`.
        for (_, task) in subscriptions.tasks {
            let _ = task.await;
        }
    }

    /// Takes `agent`'s calls from its queue group until the host leaves; then unsubscribes and
    /// refuses, as busy, the calls NATS had already sent here, so their callers place them
    /// elsewhere at once.
    async fn take_calls(self: Arc<Self>, taking: Taking, mut subscriber: Subscriber) {
        loop {
            let message = tokio::select! {
                () = self.leaving.cancelled() => break,
                message = subscriber.next() => message,
            };
            let Some(message) = message else { return };
            self.take(&taking, message).await;
        }
        let drain = async {
            if let Err(error) = subscriber.drain().await {
                tracing::warn!(%error, agent = taking.agent, "cluster: cannot drain the subscription");
            }
            while let Some(message) = subscriber.next().await {
                if let Some(reply_to) = message.reply {
                    self.reply(reply_to, &self.busy()).await;
                }
            }
        };
        // Without a connection nothing drains: the calls sent here are then placed again by their
        // callers when this host does not take them.
        if tokio::time::timeout(crate::NATS_WAIT, drain).await.is_err() {
            tracing::warn!(
                agent = taking.agent,
                "cluster: the subscription did not drain in {:?}",
                crate::NATS_WAIT
            );
        }
    }

    /// Answers every census question with what this host serves until the host leaves.
    pub async fn answer_census(self: Arc<Self>, mut questions: Subscriber) {
        loop {
            let question = tokio::select! {
                () = self.leaving.cancelled() => return,
                question = questions.next() => question,
            };
            let Some(question) = question else { return };
            let Some(reply_to) = question.reply else {
                continue;
            };
            let census = self.host.census_here(&self.host_id);
            match serde_json::to_vec(&census) {
                Ok(body) => {
                    let publish = self.client.publish(reply_to, body.into());
                    if tokio::time::timeout(crate::NATS_WAIT, publish)
                        .await
                        .is_err()
                    {
                        tracing::warn!(
                            "cluster: a census answer could not be sent in {:?}",
                            crate::NATS_WAIT
                        );
                    }
                }
                Err(error) => tracing::warn!(%error, "cluster: cannot write the census"),
            }
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a call of `agent` on this host, if it serves the agent and has room.
    pub fn room_for(&self, agent: &str) -> Option<Room> {
        let agent_room = self.rooms().get(agent)?.clone();
        self.place_in(agent_room)
    }

    /// A place in `agent_room` and in the host's room, if both have one.
    fn place_in(&self, agent_room: Arc<Semaphore>) -> Option<Room> {
        let agent_permit = agent_room.try_acquire_owned().ok()?;
        Some((agent_permit, self.room.clone().try_acquire_owned().ok()?))
    }

    fn busy(&self) -> Reply {
        Reply::Busy {
            host: self.host_id.clone(),
        }
    }

    /// Takes one call: refuses it as busy when the agent's room or the host's is full, else runs
    /// it in a task of its own.
    async fn take(self: &Arc<Self>, taking: &Taking, message: Message) {
        // A call nobody waits for has no one to answer to: not run.
        let Some(reply_to) = message.reply.clone() else {
            return;
        };
        let agent = taking.agent.as_str();
        let Some(permits) = self.place_in(taking.room.clone()) else {
            self.reply(reply_to, &self.busy()).await;
            return;
        };
        let call = match Call::read(&message) {
            Ok(call) => call,
            Err(problem) => {
                let error = self.error(ErrorKind::InvalidInput, format!("{agent}: {problem}"));
                self.reply(reply_to, &error).await;
                return;
            }
        };
        let accepted = Reply::Accepted {
            host: self.host_id.clone(),
        };
        self.reply(reply_to.clone(), &accepted).await;
        tokio::spawn(self.clone().run(agent.to_string(), call, reply_to, permits));
    }

    /// Runs a call taken from the cluster on this host, saying it is alive while it runs.
    async fn run(self: Arc<Self>, agent: String, call: Call, reply_to: Subject, _permits: Room) {
        let running = self
            .host
            .invoke_from(&agent, &call.operation, call.input, call.origin);
        tokio::pin!(running);
        let mut alive = tokio::time::interval_at(
            tokio::time::Instant::now() + wire::ALIVE_EVERY,
            wire::ALIVE_EVERY,
        );
        let result = loop {
            tokio::select! {
                result = &mut running => break result,
                _ = alive.tick() => {
                    self.reply(reply_to.clone(), &Reply::Alive).await;
                }
            }
        };
        let reply = match result {
            Ok(response) => self.output(response),
            Err(error) => self.error(error.kind(), error.to_string()),
        };
        if !self.reply(reply_to.clone(), &reply).await {
            // Most likely an output over the server's message size: say so instead of nothing.
            let error = self.error(
                ErrorKind::Internal,
                format!(
                    "{agent}.{}: the answer could not be sent through the cluster",
                    call.operation
                ),
            );
            self.reply(reply_to, &error).await;
        }
    }

    fn output(&self, response: Response) -> Reply {
        Reply::Output {
            host: self.host_id.clone(),
            response,
        }
    }

    fn error(&self, kind: ErrorKind, message: String) -> Reply {
        Reply::Error {
            host: self.host_id.clone(),
            kind,
            message,
        }
    }

    /// Sends `reply`; false (and a log line) when it could not be sent (in [`crate::NATS_WAIT`]).
    async fn reply(&self, to: Subject, reply: &Reply) -> bool {
        let (headers, body) = reply.encode();
        let publish = self.client.publish_with_headers(to, headers, body);
        match tokio::time::timeout(crate::NATS_WAIT, publish).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cluster: cannot send a reply");
                false
            }
            Err(_) => {
                tracing::warn!(
                    "cluster: a reply could not be sent in {:?}",
                    crate::NATS_WAIT
                );
                false
            }
        }
    }
}
