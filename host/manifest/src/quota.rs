//! How much durable state one agent may keep (the `[state]` section of its manifest).

/// How much state one agent may keep (from the `[state]` section of its manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Keys it may keep.
    pub max_keys: u64,
    /// Keys plus values, in bytes.
    pub max_bytes: u64,
}

impl Quota {
    /// No limit: for operators' imports.
    pub const UNLIMITED: Quota = Quota {
        max_keys: u64::MAX,
        max_bytes: u64::MAX,
    };
}

impl Default for Quota {
    /// 1 024 keys and 1 MiB.
    fn default() -> Self {
        Quota {
            max_keys: 1024,
            max_bytes: 1 << 20,
        }
    }
}
