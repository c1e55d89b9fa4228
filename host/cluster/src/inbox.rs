//! One subscription for the replies to every call this host places: `<inbox>.*`, each call
//! listening on `<inbox>.<n>`. A call registers before it is published and unregisters when its
//! [`Waiting`] is dropped, so a late reply to a call nobody waits for is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_nats::{Client, Message, Subscriber};
use futures::StreamExt;
use tokio::sync::mpsc;

/// Replies a call may have queued unread: more than it is sent (accepted, alive..., the result)
/// between two reads.
const QUEUED_REPLIES: usize = 16;

/// The calls waiting for replies.
pub struct Inbox {
    prefix: String,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, mpsc::Sender<Message>>>,
}

/// A call's replies, while it waits for them.
pub struct Waiting {
    inbox: Arc<Inbox>,
    id: u64,
    /// The subject the call's replies are sent to.
    pub subject: String,
    replies: mpsc::Receiver<Message>,
}

impl Inbox {
    /// Subscribes to the replies of this client's calls and routes them until the client closes.
    pub async fn open(client: &Client) -> Result<Arc<Inbox>, async_nats::SubscribeError> {
        let prefix = client.new_inbox();
        let subscriber = client.subscribe(format!("{prefix}.*")).await?;
        let inbox = Arc::new(Inbox {
            prefix,
            next: AtomicU64::new(1),
            waiting: Mutex::default(),
        });
        tokio::spawn(route(Arc::downgrade(&inbox), subscriber));
        Ok(inbox)
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::Sender<Message>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new reply subject, listened to until the returned [`Waiting`] is dropped.
    pub fn wait(self: &Arc<Self>) -> Waiting {
        self.wait_for(QUEUED_REPLIES)
    }

    /// Like [`wait`](Inbox::wait), for a question many answer at once (`queued` replies may
    /// wait unread).
    pub fn wait_for(self: &Arc<Self>, queued: usize) -> Waiting {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (sender, replies) = mpsc::channel(queued);
        self.waiting().insert(id, sender);
        Waiting {
            inbox: self.clone(),
            id,
            subject: format!("{}.{id}", self.prefix),
            replies,
        }
    }
}

/// Hands each reply to the call it is for until the subscription or the inbox ends; then the
/// calls still waiting learn that no reply will come.
async fn route(inbox: std::sync::Weak<Inbox>, mut subscriber: Subscriber) {
    while let Some(message) = subscriber.next().await {
        let Some(inbox) = inbox.upgrade() else { return };
        let id = message
            .subject
            .rsplit('.')
            .next()
            .and_then(|id| id.parse::<u64>().ok());
        let sender = id.and_then(|id| inbox.waiting().get(&id).cloned());
        // A call that stopped reading has stopped waiting: its replies go nowhere.
        if let Some(sender) = sender {
            let _ = sender.try_send(message);
        }
    }
    if let Some(inbox) = inbox.upgrade() {
        inbox.waiting().clear();
    }
}

impl Waiting {
    /// The next reply; `None` once the connection's subscription ended.
    pub async fn next(&mut self) -> Option<Message> {
        self.replies.recv().await
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.inbox.waiting().remove(&self.id);
    }
}
