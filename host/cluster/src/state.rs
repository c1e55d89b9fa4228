//! The agents' durable state, shared by the hosts of a cluster: each agent's namespace is one value
//! of the key-value bucket [`STATE`], under the agent's id, stored with compare-and-swap on its
//! revision (the engine's `SharedState`). So a call's writes are kept all or nothing whichever host
//! runs it, and two calls of one agent that race on different hosts cannot both commit: the loser
//! fails with `conflict` and is retried. Why one value per agent: NATS's key-value bucket has no
//! transaction over several keys, and the engine's state calls are transactions.
//!
//! The value is the number of entries (u32, little endian), then the entries in key order, each as
//! its key's length (u32), the key, its value's length (u32) and the value. It must fit in one NATS message (the
//! server's `max_payload`, 1 MiB by default): set the agents' `state.max-bytes` below it.

use std::collections::BTreeMap;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::future::BoxFuture;
use tandem::state::{SHARED, SharedState, StateError};

/// The key-value bucket of every agent's state.
pub const STATE: &str = "tandem-state";

/// The agents' state in [`STATE`].
pub struct SharedKv {
    bucket: kv::Store,
}

impl SharedKv {
    /// Opens (making it when missing) the bucket.
    pub async fn open(jetstream: &jetstream::Context) -> Result<SharedKv, String> {
        let bucket = crate::buckets::key_value(
            jetstream,
            STATE,
            "every agent's durable state: id -> entries",
        )
        .await?;
        Ok(SharedKv { bucket })
    }

    /// Connects to the NATS server at `url` and opens the bucket: for an operator's command
    /// (`tandem state --nats`), not a host.
    pub async fn connect(url: &str) -> Result<SharedKv, crate::ClusterError> {
        let client = crate::connect(url, "tandem state".to_string()).await?;
        SharedKv::open(&jetstream::new(client))
            .await
            .map_err(|reason| crate::ClusterError::JetStream {
                url: crate::shown(url),
                reason,
            })
    }

    /// The agents that keep state, ordered by id.
    pub async fn agents(&self) -> Result<Vec<String>, StateError> {
        use futures::TryStreamExt;
        let keys = self
            .bucket
            .keys()
            .await
            .map_err(|e| store_error(format!("cannot list the agents: {e}")))?;
        let mut agents: Vec<String> = keys
            .try_collect()
            .await
            .map_err(|e| store_error(format!("cannot list the agents: {e}")))?;
        agents.sort();
        Ok(agents)
    }
}

fn store_error(reason: String) -> StateError {
    StateError::Store {
        path: SHARED.into(),
        reason,
    }
}

impl SharedState for SharedKv {
    fn load<'a>(
        &'a self,
        agent: &'a str,
    ) -> BoxFuture<'a, Result<(u64, BTreeMap<String, Vec<u8>>), StateError>> {
        Box::pin(async move {
            let entry = self
                .bucket
                .entry(agent)
                .await
                .map_err(|e| store_error(format!("cannot read `{agent}`'s state: {e}")))?;
            match entry {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    let entries = decode(&entry.value).map_err(|problem| {
                        store_error(format!("`{agent}`'s state is unreadable: {problem}"))
                    })?;
                    Ok((entry.revision, entries))
                }
                _ => Ok((0, BTreeMap::new())),
            }
        })
    }

    fn store<'a>(
        &'a self,
        agent: &'a str,
        revision: u64,
        entries: BTreeMap<String, Vec<u8>>,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            let value = encode(&entries);
            let size = value.len();
            let stored = if revision == 0 {
                self.bucket
                    .create(agent, value)
                    .await
                    .map_err(|e| match e.kind() {
                        kv::CreateErrorKind::AlreadyExists => StateError::Overtaken,
                        _ => store_error(format!(
                            "cannot store `{agent}`'s state ({size} bytes): {e}"
                        )),
                    })
            } else {
                self.bucket
                    .update(agent, value, revision)
                    .await
                    .map_err(|e| match e.kind() {
                        kv::UpdateErrorKind::WrongLastRevision => StateError::Overtaken,
                        _ => store_error(format!(
                            "cannot store `{agent}`'s state ({size} bytes): {e}"
                        )),
                    })
            };
            stored.map(drop)
        })
    }
}

fn encode(entries: &BTreeMap<String, Vec<u8>>) -> Bytes {
    let size: usize = entries.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(4 + size);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (key, value) in entries {
        for part in [key.as_bytes(), value.as_slice()] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out.into()
}

fn decode(mut bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    fn part_length(bytes: &mut &[u8]) -> Result<usize, String> {
        let (len, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or("a length is cut short")?;
        *bytes = rest;
        Ok(u32::from_le_bytes(*len) as usize)
    }
    fn part<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], String> {
        let len = part_length(bytes)?;
        let rest = *bytes;
        if rest.len() < len {
            return Err(format!("a part of {len} bytes is cut short"));
        }
        let (part, rest) = rest.split_at(len);
        *bytes = rest;
        Ok(part)
    }
    let count = part_length(&mut bytes)?;
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        let key = std::str::from_utf8(part(&mut bytes)?)
            .map_err(|e| format!("a key is not UTF-8: {e}"))?
            .to_string();
        let value = part(&mut bytes)?.to_vec();
        entries.insert(key, value);
    }
    if !bytes.is_empty() {
        return Err(format!("{} bytes follow the last entry", bytes.len()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_reads_back_as_written_and_a_cut_one_is_an_error() {
        let entries = BTreeMap::from([
            ("a".to_string(), b"1".to_vec()),
            ("é/key".to_string(), Vec::new()),
            ("z".to_string(), vec![0, 255, 7]),
        ]);
        let bytes = encode(&entries);
        assert_eq!(decode(&bytes).unwrap(), entries);
        assert_eq!(decode(&encode(&BTreeMap::new())).unwrap(), BTreeMap::new());
        assert!(decode(&[]).is_err());
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
