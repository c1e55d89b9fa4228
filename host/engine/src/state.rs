//! Durable per-agent state: [`StateStore`], the redb file under the host's data directory that holds
//! every agent's key-value namespace; [`Changes`], the writes of one call, kept together when the call
//! succeeds; and [`StateAccess`], which opens the store the first time it is needed.
//!
//! Layout: table `entries` maps (agent id, key) to the value's bytes; table `usage` maps an agent id
//! to its (keys, bytes), kept in step by every commit so that quota checks need no scan. An entry's
//! size is its key's length plus its value's.
//!
//! Commits go through one thread that takes every commit waiting for it into one redb write
//! transaction (group commit): each call's writes are checked (compare-and-swap expectations, quota)
//! and applied all or nothing, and the batch is on disk (redb's `Immediate` durability: fsync) before
//! any of those calls returns. The file is opened in redb's multi-writer mode, so `tandem state` can
//! read and change it while a server runs.
//!
//! Files: `store` (the redb file, reads and writes), `changes` (one call's writes), `snapshot` (the
//! committed state at one moment), `writer` (the commit thread), `usage` (sizes and the quota
//! check), `access` (opening the store when first needed), `shared` (the state a cluster's hosts
//! share instead of the file), `error`, and `export` (the format of `tandem state export`).

use redb::TableDefinition;

pub mod export;

mod access;
mod changes;
mod error;
pub mod shared;
mod snapshot;
mod store;
mod usage;
mod writer;

pub use access::StateAccess;
pub use changes::Changes;
pub use error::StateError;
pub use shared::{SHARED, SharedState};
pub use snapshot::Snapshot;
pub use store::StateStore;
pub use tandem_manifest::Quota;
pub use usage::Usage;

pub(crate) const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
pub(crate) const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Keys are 1 to [`MAX_KEY_BYTES`] bytes of UTF-8.
pub fn check_key(key: &str) -> Result<(), StateError> {
    if key.is_empty() {
        return Err(StateError::InvalidKey("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StateError::InvalidKey(format!(
            "the key is {} bytes long, over the limit of {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn store() -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.redb")).unwrap();
        (dir, store)
    }

    fn set(store: &StateStore, agent: &str, pairs: &[(&str, &str)]) -> Result<(), StateError> {
        let mut changes = Changes::default();
        for (key, value) in pairs {
            store.write(
                agent,
                &mut changes,
                Quota::default(),
                key,
                Some(value.as_bytes().to_vec()),
            )?;
        }
        store.commit_blocking(agent, changes, Quota::default())
    }

    #[test]
    fn a_call_reads_its_own_writes_and_commits_them_together() {
        let (_dir, store) = store();
        set(&store, "a", &[("x", "1"), ("y", "22")]).unwrap();
        let mut changes = Changes::default();
        let quota = Quota::default();
        store
            .write("a", &mut changes, quota, "x", Some(b"333".to_vec()))
            .unwrap();
        assert!(store.write("a", &mut changes, quota, "y", None).unwrap());
        store
            .write("a", &mut changes, quota, "z", Some(b"4".to_vec()))
            .unwrap();
        assert_eq!(
            store.read("a", &mut changes, "x").unwrap(),
            Some(b"333".to_vec())
        );
        assert_eq!(store.read("a", &mut changes, "y").unwrap(), None);
        assert_eq!(store.list("a", &mut changes, "").unwrap(), ["x", "z"]);
        // Nothing is visible outside the call until it commits.
        assert_eq!(store.get("a", "x").unwrap(), Some(b"1".to_vec()));
        store.commit_blocking("a", changes, quota).unwrap();
        assert_eq!(
            store.entries("a", "").unwrap(),
            [("x".into(), b"333".to_vec()), ("z".into(), b"4".to_vec())]
        );
        assert_eq!(store.usage("a").unwrap(), Usage { keys: 2, bytes: 6 });
    }

    #[test]
    fn namespaces_and_prefixes_do_not_leak() {
        let (_dir, store) = store();
        set(&store, "a", &[("k", "a's")]).unwrap();
        set(&store, "ab", &[("k", "ab's"), ("kk", "2"), ("l", "3")]).unwrap();
        assert_eq!(store.get("a", "k").unwrap(), Some(b"a's".to_vec()));
        assert_eq!(store.keys("a", "").unwrap(), [("k".to_string(), 3)]);
        let mut changes = Changes::default();
        assert_eq!(store.list("ab", &mut changes, "k").unwrap(), ["k", "kk"]);
        assert_eq!(
            store.list("b", &mut changes, "").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            store.agents().unwrap(),
            [
                ("a".to_string(), Usage { keys: 1, bytes: 4 }),
                ("ab".to_string(), Usage { keys: 3, bytes: 10 })
            ]
        );
    }

    #[test]
    fn quota_refuses_growth_but_allows_shrinking() {
        let (_dir, store) = store();
        let quota = Quota {
            max_keys: 2,
            max_bytes: 10,
        };
        let mut changes = Changes::default();
        store
            .write("a", &mut changes, quota, "k1", Some(b"1234".to_vec()))
            .unwrap();
        store
            .write("a", &mut changes, quota, "k2", Some(b"1".to_vec()))
            .unwrap();
        let refused = store
            .write("a", &mut changes, quota, "k3", Some(b"1".to_vec()))
            .unwrap_err();
        assert!(
            matches!(
                refused,
                StateError::QuotaExceeded {
                    what: "keys",
                    would_be: 3,
                    limit: 2
                }
            ),
            "{refused}"
        );
        let refused = store
            .write("a", &mut changes, quota, "k2", Some(b"12345".to_vec()))
            .unwrap_err();
        assert!(
            matches!(
                refused,
                StateError::QuotaExceeded {
                    what: "bytes",
                    would_be: 13,
                    limit: 10
                }
            ),
            "{refused}"
        );
        assert!(changes.refused().is_some());
        // The refused writes changed nothing; a smaller value still fits.
        assert_eq!(
            store.read("a", &mut changes, "k2").unwrap(),
            Some(b"1".to_vec())
        );
        store
            .write("a", &mut changes, quota, "k1", Some(b"12".to_vec()))
            .unwrap();
        store.commit_blocking("a", changes, quota).unwrap();
        assert_eq!(store.usage("a").unwrap(), Usage { keys: 2, bytes: 7 });
    }

    #[test]
    fn the_commit_checks_the_quota_against_other_calls_commits() {
        let (_dir, store) = store();
        let quota = Quota {
            max_keys: 1,
            max_bytes: 100,
        };
        let (mut first, mut second) = (Changes::default(), Changes::default());
        store
            .write("a", &mut first, quota, "x", Some(b"1".to_vec()))
            .unwrap();
        store
            .write("a", &mut second, quota, "y", Some(b"2".to_vec()))
            .unwrap();
        store.commit_blocking("a", first, quota).unwrap();
        let refused = store.commit_blocking("a", second, quota).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::QuotaExceeded, "{refused}");
        assert_eq!(store.keys("a", "").unwrap(), [("x".to_string(), 1)]);
    }

    #[test]
    fn compare_and_swap_conflicts_with_a_commit_in_between() {
        let (_dir, store) = store();
        set(&store, "a", &[("n", "1")]).unwrap();
        let quota = Quota::default();
        let mut changes = Changes::default();
        assert!(
            !store
                .compare_and_swap(
                    "a",
                    &mut changes,
                    quota,
                    "n",
                    Some(b"0".to_vec()),
                    Some(b"9".to_vec())
                )
                .unwrap()
        );
        assert!(changes.is_empty());
        assert!(
            store
                .compare_and_swap(
                    "a",
                    &mut changes,
                    quota,
                    "n",
                    Some(b"1".to_vec()),
                    Some(b"2".to_vec())
                )
                .unwrap()
        );
        store
            .write("a", &mut changes, quota, "other", Some(b"x".to_vec()))
            .unwrap();
        set(&store, "a", &[("n", "5")]).unwrap();
        let conflict = store.commit_blocking("a", changes, quota).unwrap_err();
        assert!(
            matches!(&conflict, StateError::Conflict { key } if key == "n"),
            "{conflict}"
        );
        assert_eq!(conflict.kind(), ErrorKind::Conflict);
        // None of the call's writes were kept.
        assert_eq!(store.get("a", "n").unwrap(), Some(b"5".to_vec()));
        assert_eq!(store.get("a", "other").unwrap(), None);
    }

    #[test]
    fn import_replaces_or_merges_and_keys_are_checked() {
        let (_dir, store) = store();
        set(&store, "a", &[("old", "1"), ("kept", "2")]).unwrap();
        let import = |entries, replace| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(store.import("a", entries, replace))
        };
        import(vec![("new".into(), b"3".to_vec())], false).unwrap();
        assert_eq!(store.keys("a", "").unwrap().len(), 3);
        import(vec![("new".into(), b"4".to_vec())], true).unwrap();
        assert_eq!(
            store.entries("a", "").unwrap(),
            [("new".into(), b"4".to_vec())]
        );
        assert_eq!(store.usage("a").unwrap(), Usage { keys: 1, bytes: 4 });
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(check_key(""), Err(StateError::InvalidKey(_))));
        assert!(matches!(check_key(&long), Err(StateError::InvalidKey(_))));
    }

    #[test]
    fn a_second_handle_sees_commits_and_the_data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.redb");
        let first = StateStore::open(&path).unwrap();
        let second = StateStore::open(&path).unwrap();
        set(&first, "a", &[("k", "v")]).unwrap();
        assert_eq!(second.get("a", "k").unwrap(), Some(b"v".to_vec()));
        drop((first, second));
        let reopened = StateStore::open(&path).unwrap();
        assert_eq!(reopened.get("a", "k").unwrap(), Some(b"v".to_vec()));
        let access = StateAccess::new(None);
        assert!(matches!(access.store(), Err(StateError::Disabled)));
    }
}
