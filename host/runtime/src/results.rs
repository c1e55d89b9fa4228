//! The result cache: outputs of operations an agent declares deterministic, keyed by the agent's
//! content hash, the operation and the input text, so that a new version of an agent never sees its
//! predecessor's entries. Bounded by bytes (keys and outputs), least recently used out first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    content_hash: String,
    operation: String,
    input: String,
}

impl Key {
    fn bytes(&self) -> usize {
        self.content_hash.len() + self.operation.len() + self.input.len()
    }
}

struct Entries {
    lru: LruCache<Key, String>,
    bytes: usize,
}

/// The cache; one per host. A capacity of 0 turns it off.
pub struct ResultCache {
    capacity: usize,
    entries: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// The cache's counters.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct CacheStats {
    /// Lookups that found an answer.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Answers dropped to make room.
    pub evictions: u64,
    /// Answers held.
    pub entries: usize,
    /// Bytes held.
    pub bytes: usize,
    /// The most bytes it may hold.
    pub capacity_bytes: usize,
}

impl CacheStats {
    /// Hits over lookups (0 before the first).
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

impl ResultCache {
    /// A cache of at most `capacity_bytes` (0: no cache).
    pub fn new(capacity_bytes: usize) -> ResultCache {
        ResultCache {
            capacity: capacity_bytes,
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Whether it caches anything.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached output of `operation` on `input` by the agent whose component hashes to
    /// `content_hash`, counting a hit or a miss.
    pub fn get(&self, content_hash: &str, operation: &str, input: &str) -> Option<String> {
        let key = Key {
            content_hash: content_hash.to_string(),
            operation: operation.to_string(),
            input: input.to_string(),
        };
        let found = self.lock().lru.get(&key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps an output, evicting the least recently used entries to stay within the capacity. An
    /// entry larger than the whole cache is not kept.
    pub fn put(&self, content_hash: &str, operation: &str, input: &str, output: &str) {
        let key = Key {
            content_hash: content_hash.to_string(),
            operation: operation.to_string(),
            input: input.to_string(),
        };
        let size = key.bytes() + output.len();
        if size > self.capacity {
            return;
        }
        let mut entries = self.lock();
        if let Some((old_key, old)) = entries.lru.push(key, output.to_string()) {
            entries.bytes -= old_key.bytes() + old.len();
        }
        entries.bytes += size;
        while entries.bytes > self.capacity {
            let Some((key, output)) = entries.lru.pop_lru() else {
                break;
            };
            entries.bytes -= key.bytes() + output.len();
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Its counters now.
    pub fn stats(&self) -> CacheStats {
        let entries = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: entries.lru.len(),
            bytes: entries.bytes,
            capacity_bytes: self.capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_versions_and_lru_eviction_by_bytes() {
        // Each entry: 2 (hash) + 2 (op) + 1 (input) + 5 (output) = 10 bytes; room for three.
        let cache = ResultCache::new(30);
        assert_eq!(cache.get("h1", "op", "a"), None);
        cache.put("h1", "op", "a", "out-a");
        assert_eq!(cache.get("h1", "op", "a").as_deref(), Some("out-a"));
        assert_eq!(cache.get("h2", "op", "a"), None, "another version misses");
        cache.put("h1", "op", "b", "out-b");
        cache.put("h1", "op", "c", "out-c");
        assert_eq!(cache.get("h1", "op", "a").as_deref(), Some("out-a"));
        cache.put("h1", "op", "d", "out-d");
        assert_eq!(
            cache.get("h1", "op", "b"),
            None,
            "b was the least recently used"
        );
        assert_eq!(cache.get("h1", "op", "a").as_deref(), Some("out-a"));
        cache.put("h1", "op", "e", &"x".repeat(100));
        let stats = cache.stats();
        assert_eq!(
            (
                stats.hits,
                stats.misses,
                stats.evictions,
                stats.entries,
                stats.bytes
            ),
            (3, 3, 1, 3, 30)
        );
        assert!((stats.hit_rate() - 0.5).abs() < 1e-9);
        assert!(!ResultCache::new(0).enabled());
    }
}
