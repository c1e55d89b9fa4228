//! What an agent keeps ([`Usage`]), what an entry costs, and the quota check every write passes.

use tandem_manifest::Quota;

use super::StateError;

/// What one agent keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Keys kept.
    pub keys: u64,
    /// Keys plus values, in bytes.
    pub bytes: u64,
}

impl Usage {
    /// What a namespace holding `entries` keeps.
    pub fn of(entries: &std::collections::BTreeMap<String, Vec<u8>>) -> Usage {
        Usage {
            keys: entries.len() as u64,
            bytes: entries.iter().map(|(k, v)| entry_size(k, v)).sum(),
        }
    }
}

pub(super) fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// What replacing an entry of size `old` with one of size `new` (`None`: no entry) adds to an
/// agent's keys and bytes.
pub(super) fn growth(old: Option<u64>, new: Option<u64>) -> (i64, i64) {
    (
        i64::from(new.is_some()) - i64::from(old.is_some()),
        new.unwrap_or(0) as i64 - old.unwrap_or(0) as i64,
    )
}

/// Refuses a change that adds keys (`adds_keys`) or bytes (`adds_bytes`) when the agent would then
/// keep more than its quota.
pub(super) fn check_quota(
    quota: Quota,
    adds_keys: bool,
    keys: i64,
    adds_bytes: bool,
    bytes: i64,
) -> Result<(), StateError> {
    if adds_keys && keys > 0 && keys as u64 > quota.max_keys {
        return Err(StateError::QuotaExceeded {
            what: "keys",
            would_be: keys as u64,
            limit: quota.max_keys,
        });
    }
    if adds_bytes && bytes > 0 && bytes as u64 > quota.max_bytes {
        return Err(StateError::QuotaExceeded {
            what: "bytes",
            would_be: bytes as u64,
            limit: quota.max_bytes,
        });
    }
    Ok(())
}
