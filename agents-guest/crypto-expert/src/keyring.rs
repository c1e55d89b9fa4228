//! The key ring: named keys in the agent's durable state (`key/<name>`), each a list of versions.
//! The newest active version signs, encrypts and MACs; older active versions still verify and
//! decrypt; a retired version does nothing. Secrets never leave the state: outputs, logs and
//! events carry names, versions and public keys only. The manifest's `[state]` quota bounds the
//! ring (a write past it is `quota-exceeded`).

use serde::{Deserialize, Serialize};
use tandem_sdk::{AgentError, state};
use zeroize::Zeroizing;

use crate::asymmetric;

/// What a key is for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "x25519")]
    X25519,
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Retired,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct Version {
    pub version: u32,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub status: Status,
    /// The secret (hex). Only in state.
    secret: String,
    /// Messages encrypted under this version (the nonce counter).
    #[serde(default)]
    pub counter: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
}

impl Version {
    /// The 32-byte secret.
    pub fn secret(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        if let Ok(bytes) = hex::decode(&self.secret) {
            out.copy_from_slice(&bytes[..32.min(bytes.len())]);
        }
        out
    }
}

#[derive(Serialize, Deserialize, Clone)]
pub struct Key {
    pub kind: KeyKind,
    pub versions: Vec<Version>,
}

/// What callers see of a key: no secrets.
#[derive(Serialize)]
pub struct KeyView {
    pub name: String,
    pub kind: KeyKind,
    /// The version that signs and encrypts, if one is active.
    pub current: Option<u32>,
    pub versions: Vec<VersionView>,
}

#[derive(Serialize)]
pub struct VersionView {
    pub version: u32,
    pub created: u64,
    pub status: Status,
    #[serde(rename = "public-key", skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
    #[serde(rename = "messages-encrypted")]
    pub counter: u64,
}

fn state_key(name: &str) -> Result<String, AgentError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(AgentError::invalid(format!(
            "key name {name:?}: 1 to 64 of a-z, 0-9, `-`, `_`, `.`"
        )));
    }
    Ok(format!("key/{name}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn fresh(kind: KeyKind, version: u32) -> Version {
    let secret = asymmetric::random_secret();
    let public = match kind {
        KeyKind::Ed25519 => Some(hex::encode(asymmetric::ed25519_public(&secret))),
        KeyKind::X25519 => Some(hex::encode(asymmetric::x25519_public(&secret))),
        _ => None,
    };
    Version {
        version,
        created: now(),
        status: Status::Active,
        secret: hex::encode(secret.as_ref()),
        counter: 0,
        public,
    }
}

impl Key {
    /// The newest active version.
    pub fn current(&self) -> Option<&Version> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.status == Status::Active)
    }

    /// The newest active version, or `denied` when every version is retired.
    pub fn current_or_denied(&self, name: &str) -> Result<&Version, AgentError> {
        self.current()
            .ok_or_else(|| AgentError::Denied(format!("key `{name}` has no active version")))
    }

    pub fn view(&self, name: &str) -> KeyView {
        KeyView {
            name: name.to_string(),
            kind: self.kind,
            current: self.current().map(|v| v.version),
            versions: self
                .versions
                .iter()
                .map(|v| VersionView {
                    version: v.version,
                    created: v.created,
                    status: v.status,
                    public: v.public.clone(),
                    counter: v.counter,
                })
                .collect(),
        }
    }

    /// A version that may still verify or decrypt: active, the one asked for.
    pub fn usable(&self, name: &str, version: u32) -> Result<&Version, AgentError> {
        match self.versions.iter().find(|v| v.version == version) {
            Some(v) if v.status == Status::Active => Ok(v),
            Some(_) => Err(AgentError::Denied(format!(
                "key `{name}` version {version} is retired"
            ))),
            None => Err(AgentError::invalid(format!(
                "key `{name}` has no version {version}"
            ))),
        }
    }
}

/// The key `name`, which must be of `kind`.
pub fn load(name: &str, kinds: &[KeyKind]) -> Result<Key, AgentError> {
    let key: Key = state::get_json(&state_key(name)?)?.ok_or_else(|| {
        AgentError::invalid(format!("no key `{name}`: make it with `create-key`"))
    })?;
    if !kinds.contains(&key.kind) {
        return Err(AgentError::invalid(format!(
            "key `{name}` is {:?}, not one of {kinds:?}",
            key.kind
        )));
    }
    Ok(key)
}

pub fn create(name: &str, kind: KeyKind) -> Result<KeyView, AgentError> {
    let key = state_key(name)?;
    if state::get(&key)?.is_some() {
        return Err(AgentError::invalid(format!(
            "key `{name}` exists: `rotate-key` makes a new version"
        )));
    }
    let created = Key {
        kind,
        versions: vec![fresh(kind, 1)],
    };
    // compare-and-swap: two calls creating one name cannot both win.
    let bytes = serde_json::to_vec(&created).expect("a key encodes");
    if !state::compare_and_swap(&key, None, Some(&bytes))? {
        return Err(AgentError::invalid(format!(
            "key `{name}` was just created by another call"
        )));
    }
    Ok(created.view(name))
}

/// Applies `change` to the key atomically (a compare-and-swap in this call's transaction).
fn update(
    name: &str,
    change: impl Fn(&mut Key) -> Result<(), AgentError>,
) -> Result<Key, AgentError> {
    let key = state_key(name)?;
    loop {
        let current =
            state::get(&key)?.ok_or_else(|| AgentError::invalid(format!("no key `{name}`")))?;
        let mut parsed: Key = serde_json::from_slice(&current).map_err(|e| {
            AgentError::failed(format!("key `{name}` in state does not parse: {e}"))
        })?;
        change(&mut parsed)?;
        let bytes = serde_json::to_vec(&parsed).expect("a key encodes");
        if state::compare_and_swap(&key, Some(&current), Some(&bytes))? {
            return Ok(parsed);
        }
    }
}

pub fn rotate(name: &str) -> Result<KeyView, AgentError> {
    let key = update(name, |key| {
        let next = key.versions.last().map_or(1, |v| v.version + 1);
        key.versions.push(fresh(key.kind, next));
        Ok(())
    })?;
    Ok(key.view(name))
}

/// Retires one version, or every version when none is named.
pub fn retire(name: &str, version: Option<u32>) -> Result<KeyView, AgentError> {
    let key = update(name, |key| {
        let mut found = false;
        for v in &mut key.versions {
            if version.is_none_or(|n| n == v.version) {
                v.status = Status::Retired;
                found = true;
            }
        }
        if !found {
            return Err(AgentError::invalid(format!(
                "key `{name}` has no version {version:?}"
            )));
        }
        Ok(())
    })?;
    Ok(key.view(name))
}

/// What encrypting under a ring key needs: the current version, its secret, the nonce counter this
/// message takes, and the key's kind.
pub struct Sealing {
    pub version: u32,
    pub secret: Zeroizing<[u8; 32]>,
    pub counter: u64,
    pub kind: KeyKind,
}

/// Takes the next nonce counter of the key's current version (a compare-and-swap in the call's
/// transaction: two calls never take the same one).
pub fn next_counter(name: &str, kinds: &[KeyKind]) -> Result<Sealing, AgentError> {
    load(name, kinds)?;
    let key = update(name, |key| {
        let current = key
            .versions
            .iter_mut()
            .rev()
            .find(|v| v.status == Status::Active)
            .ok_or_else(|| AgentError::Denied(format!("key `{name}` has no active version")))?;
        current.counter = current
            .counter
            .checked_add(1)
            .ok_or_else(|| AgentError::failed("the nonce counter is exhausted: rotate the key"))?;
        Ok(())
    })?;
    let current = key.current().expect("checked above");
    Ok(Sealing {
        version: current.version,
        secret: current.secret(),
        counter: current.counter - 1,
        kind: key.kind,
    })
}

pub fn list() -> Result<Vec<KeyView>, AgentError> {
    let mut out = Vec::new();
    for key in state::keys("key/")? {
        if let Some(parsed) = state::get_json::<Key>(&key)? {
            out.push(parsed.view(key.trim_start_matches("key/")));
        }
    }
    Ok(out)
}
