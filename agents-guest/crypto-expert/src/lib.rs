//! `crypto-expert`: cryptography done with the RustCrypto crates inside the sandbox
//! ([`primitives`], [`asymmetric`], [`aead`], [`password`]), keys kept by name with rotation in the
//! agent's durable state ([`keyring`]), and an audit of weak cryptography in source trees
//! ([`audit`]). Bytes travel as `utf8`, `hex` or `base64` ([`encoding`]); secrets are never logged,
//! put in events or returned (except what an operation exists to return: a shared secret, an HKDF
//! output, a plaintext).

pub mod aead;
pub mod asymmetric;
pub mod audit;
pub mod encoding;
pub mod keyring;
pub mod password;
pub mod primitives;

use serde::Deserialize;
use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task};

use aead::Cipher;
use encoding::{Encoding, binary, exact};
use keyring::KeyKind;
use primitives::{HashAlgorithm, MacAlgorithm};

/// The most inputs one `hash` call takes.
const MAX_HASH_INPUTS: usize = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct HashInput {
    algorithm: HashAlgorithm,
    /// One input...
    data: Option<String>,
    /// ... or many (one digest each, in order).
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    encoding: Encoding,
    output: Option<Encoding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct HmacInput {
    #[serde(default)]
    algorithm: MacAlgorithm,
    /// A raw key...
    key: Option<String>,
    #[serde(default = "hex_encoding")]
    key_encoding: Encoding,
    /// ... or a key-ring key (`hmac-sha256`).
    key_name: Option<String>,
    /// The key-ring version to use (default: the current one); an older active one verifies.
    version: Option<u32>,
    data: String,
    #[serde(default)]
    encoding: Encoding,
    /// A tag to check instead of computing one.
    expected: Option<String>,
    output: Option<Encoding>,
}

fn hex_encoding() -> Encoding {
    Encoding::Hex
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct HkdfInput {
    #[serde(default)]
    algorithm: MacAlgorithm,
    ikm: String,
    salt: Option<String>,
    #[serde(default)]
    info: String,
    length: usize,
    /// The encoding of `ikm`, `salt` and `info` (default hex).
    #[serde(default = "hex_encoding")]
    encoding: Encoding,
    output: Option<Encoding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KeyInput {
    name: String,
    kind: Option<KeyKind>,
    version: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SignInput {
    key_name: Option<String>,
    /// A raw 32-byte Ed25519 seed (hex) instead of a key-ring key.
    private_key: Option<String>,
    /// For `verify`: a raw public key (hex) instead of a key-ring key.
    public_key: Option<String>,
    version: Option<u32>,
    data: String,
    #[serde(default)]
    encoding: Encoding,
    /// For `verify`.
    signature: Option<String>,
    output: Option<Encoding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct AgreeInput {
    key_name: Option<String>,
    private_key: Option<String>,
    /// The peer's X25519 public key (hex).
    peer_public_key: String,
    output: Option<Encoding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SealInput {
    /// A key-ring key (`chacha20-poly1305` or `aes-256-gcm`)...
    key_name: Option<String>,
    version: Option<u32>,
    /// ... or a raw 32-byte key (hex) with its `algorithm`.
    key: Option<String>,
    algorithm: Option<Cipher>,
    /// `encrypt`: the plaintext; `decrypt`: the ciphertext (tag appended).
    data: String,
    #[serde(default)]
    encoding: Option<Encoding>,
    /// `decrypt`: the nonce (hex) `encrypt` returned.
    nonce: Option<String>,
    /// Associated data: authenticated, not encrypted.
    #[serde(default)]
    aad: String,
    #[serde(default)]
    aad_encoding: Encoding,
    output: Option<Encoding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PasswordInput {
    password: String,
    #[serde(default)]
    cost: Option<password::Cost>,
    /// `verify-password`: the PHC string `hash-password` returned.
    phc: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct BenchmarkInput {
    algorithm: HashAlgorithm,
    /// MiB to hash (1 to 1024).
    megabytes: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RandomInput {
    bytes: usize,
    output: Option<Encoding>,
}

struct CryptoExpert;

impl Agent for CryptoExpert {
    fn describe() -> AgentInfo {
        let op = |name: &str, what: &str, example: serde_json::Value| {
            Operation::new(name, what).example(example)
        };
        AgentInfo::new("crypto-expert", "Cryptography done right: hashes, MACs, HKDF, Ed25519, X25519, AEAD and Argon2id with a rotating key ring, and an audit of weak cryptography in code")
            .operation(op("hash", "SHA-256, SHA-512, SHA3-256 or BLAKE3 of one input or many", json!({"algorithm": "sha256", "data": "abc"})).deterministic())
            .operation(op("hmac", "HMAC-SHA-256/512 with a raw or key-ring key; `expected` verifies in constant time", json!({"key": "0b0b0b0b", "data": "Hi There"})))
            .operation(op("hkdf", "HKDF-SHA-256/512 (RFC 5869)", json!({"ikm": "0b0b0b0b", "info": "", "length": 32})).deterministic())
            .operation(op("create-key", "A new named key: ed25519, x25519, chacha20-poly1305, aes-256-gcm or hmac-sha256", json!({"name": "signing", "kind": "ed25519"})))
            .operation(op("rotate-key", "A new version of a key; older versions still verify and decrypt", json!({"name": "signing"})))
            .operation(op("retire-key", "Stops a version (or, without `version`, the whole key) from any use", json!({"name": "signing", "version": 1})))
            .operation(op("list-keys", "The key ring: names, kinds, versions, public keys (never secrets)", json!({})))
            .operation(op("sign", "Ed25519 signature with a key-ring key or a raw seed", json!({"key-name": "signing", "data": "release 1.2.0"})))
            .operation(op("verify", "Checks an Ed25519 signature against a key-ring key's versions or a raw public key", json!({"key-name": "signing", "data": "release 1.2.0", "signature": "..."})))
            .operation(op("agree", "X25519 shared secret with a peer's public key", json!({"key-name": "exchange", "peer-public-key": "de9edb7d..."})))
            .operation(op("encrypt", "ChaCha20-Poly1305 or AES-256-GCM; the agent makes the nonce", json!({"key-name": "data", "data": "secret note", "aad": "record-7"})))
            .operation(op("decrypt", "Opens what `encrypt` returned", json!({"key-name": "data", "version": 1, "nonce": "...", "data": "...", "aad": "record-7"})))
            .operation(op("hash-password", "Argon2id in PHC format (OWASP defaults: 19 MiB, t=2, p=1)", json!({"password": "correct horse"})))
            .operation(op("verify-password", "Checks a password against a PHC string; says when its cost is below today's", json!({"password": "correct horse", "phc": "$argon2id$v=19$..."})))
            .operation(op("random", "Random bytes from the WASI random source", json!({"bytes": 32})))
            .operation(op("benchmark", "Hashes MiBs made inside the sandbox and reports MB/s (compare: the same code natively)", json!({"algorithm": "blake3", "megabytes": 64})))
            .operation(op("audit-crypto", "Weak cryptography in Python, JavaScript/TypeScript, Rust, Go and Java, with CWE and the fix", json!({"paths": ["src"]})))
            .capability("state")
            .capability("files:read")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "hash" => hash(task.input()?),
            "hmac" => hmac(task.input()?),
            "hkdf" => hkdf(task.input()?),
            "create-key" => {
                let input: KeyInput = task.input()?;
                let kind = input
                    .kind
                    .ok_or_else(|| AgentError::invalid("`kind` is required"))?;
                tandem_sdk::to_json(&keyring::create(&input.name, kind)?)
            }
            "rotate-key" => tandem_sdk::to_json(&keyring::rotate(&task.input::<KeyInput>()?.name)?),
            "retire-key" => {
                let input: KeyInput = task.input()?;
                tandem_sdk::to_json(&keyring::retire(&input.name, input.version)?)
            }
            "list-keys" => tandem_sdk::to_json(&json!({"keys": keyring::list()?})),
            "sign" => sign(task.input()?),
            "verify" => verify(task.input()?),
            "agree" => agree(task.input()?),
            "encrypt" => encrypt(task.input()?),
            "decrypt" => decrypt(task.input()?),
            "hash-password" => {
                let input: PasswordInput = task.input()?;
                let cost = input.cost.unwrap_or_default();
                let phc = password::hash(input.password.as_bytes(), cost)?;
                tandem_sdk::to_json(&json!({"phc": phc, "algorithm": "argon2id", "cost": cost}))
            }
            "verify-password" => {
                let input: PasswordInput = task.input()?;
                let phc = input
                    .phc
                    .ok_or_else(|| AgentError::invalid("`phc` is required"))?;
                let (valid, cost, weaker) = password::verify(input.password.as_bytes(), &phc)?;
                tandem_sdk::to_json(&json!({"valid": valid, "cost": cost, "needs-rehash": weaker}))
            }
            "random" => {
                let input: RandomInput = task.input()?;
                if !(1..=1 << 20).contains(&input.bytes) {
                    return Err(AgentError::invalid("`bytes` is 1 to 1048576"));
                }
                let mut out = vec![0u8; input.bytes];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut out);
                tandem_sdk::to_json(
                    &json!({"random": binary(input.output)?.encode("random", &out)?}),
                )
            }
            "benchmark" => {
                let input: BenchmarkInput = task.input()?;
                if !(1..=1024).contains(&input.megabytes) {
                    return Err(AgentError::invalid("`megabytes` is 1 to 1024"));
                }
                let (bytes, seconds) = primitives::throughput(input.algorithm, input.megabytes);
                tandem_sdk::to_json(&json!({
                    "algorithm": input.algorithm,
                    "bytes": bytes,
                    "seconds": seconds,
                    "mb-per-s": bytes as f64 / seconds.max(1e-9) / 1048576.0,
                }))
            }
            "audit-crypto" => audit::run(task.input()?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(CryptoExpert);

fn hash(input: HashInput) -> Result<Json, AgentError> {
    let out = binary(input.output)?;
    let name = serde_json::to_value(input.algorithm).ok();
    match (input.data, input.inputs.is_empty()) {
        (Some(data), true) => {
            let bytes = input.encoding.decode("data", &data)?;
            let digest = primitives::hash(input.algorithm, &bytes);
            tandem_sdk::to_json(
                &json!({"algorithm": name, "digest": out.encode("digest", &digest)?}),
            )
        }
        (None, false) => {
            if input.inputs.len() > MAX_HASH_INPUTS {
                return Err(AgentError::invalid(format!(
                    "at most {MAX_HASH_INPUTS} `inputs`"
                )));
            }
            let mut digests = Vec::with_capacity(input.inputs.len());
            let mut bytes = 0;
            for (i, text) in input.inputs.iter().enumerate() {
                let data = input.encoding.decode(&format!("inputs[{i}]"), text)?;
                bytes += data.len();
                digests.push(out.encode("digest", &primitives::hash(input.algorithm, &data))?);
            }
            tandem_sdk::to_json(&json!({"algorithm": name, "digests": digests, "bytes": bytes}))
        }
        _ => Err(AgentError::invalid(
            "give one of `data` (one input) and `inputs` (many)",
        )),
    }
}

/// A raw key or a key-ring key's secret for a MAC.
fn mac_key(input: &HmacInput) -> Result<(Vec<u8>, Option<u32>), AgentError> {
    match (&input.key, &input.key_name) {
        (Some(key), None) => Ok((input.key_encoding.decode("key", key)?, None)),
        (None, Some(name)) => {
            let key = keyring::load(name, &[KeyKind::HmacSha256])?;
            let version = match input.version {
                Some(v) => key.usable(name, v)?,
                None => key.current_or_denied(name)?,
            };
            Ok((version.secret().to_vec(), Some(version.version)))
        }
        _ => Err(AgentError::invalid(
            "give `key` (raw) or `key-name` (the key ring), one of them",
        )),
    }
}

fn hmac(input: HmacInput) -> Result<Json, AgentError> {
    let data = input.encoding.decode("data", &input.data)?;
    let out = binary(input.output)?;
    let (key, version) = mac_key(&input)?;
    match &input.expected {
        Some(expected) => {
            let tag = out.decode("expected", expected)?;
            let valid = primitives::hmac_verify(input.algorithm, &key, &data, &tag);
            tandem_sdk::to_json(&json!({"valid": valid, "version": version}))
        }
        None => {
            let tag = primitives::hmac(input.algorithm, &key, &data);
            tandem_sdk::to_json(&json!({"tag": out.encode("tag", &tag)?, "version": version}))
        }
    }
}

fn hkdf(input: HkdfInput) -> Result<Json, AgentError> {
    let ikm = input.encoding.decode("ikm", &input.ikm)?;
    let salt = input
        .salt
        .as_deref()
        .map(|s| input.encoding.decode("salt", s))
        .transpose()?;
    let info = input.encoding.decode("info", &input.info)?;
    let okm = primitives::hkdf(input.algorithm, &ikm, salt.as_deref(), &info, input.length)?;
    tandem_sdk::to_json(&json!({"okm": binary(input.output)?.encode("okm", &okm)?}))
}

fn hex32(what: &str, text: &str) -> Result<[u8; 32], AgentError> {
    exact::<32>(what, &Encoding::Hex.decode(what, text)?)
}

/// The secret to sign or agree with: the current version of a ring key of `kind`, or a raw
/// 32-byte key (hex) given inline; with the ring version used.
fn private_key(
    key_name: &Option<String>,
    raw: &Option<String>,
    kind: KeyKind,
) -> Result<(zeroize::Zeroizing<[u8; 32]>, Option<u32>), AgentError> {
    match (key_name, raw) {
        (Some(name), None) => {
            let key = keyring::load(name, &[kind])?;
            let current = key.current_or_denied(name)?;
            Ok((current.secret(), Some(current.version)))
        }
        (None, Some(raw)) => Ok((zeroize::Zeroizing::new(hex32("private-key", raw)?), None)),
        _ => Err(AgentError::invalid(
            "give `key-name` or `private-key`, one of them",
        )),
    }
}

fn sign(input: SignInput) -> Result<Json, AgentError> {
    let data = input.encoding.decode("data", &input.data)?;
    let out = binary(input.output)?;
    let (seed, version) = private_key(&input.key_name, &input.private_key, KeyKind::Ed25519)?;
    let signature = asymmetric::ed25519_sign(&seed, &data);
    tandem_sdk::to_json(&json!({
        "signature": out.encode("signature", &signature)?,
        "public-key": hex::encode(asymmetric::ed25519_public(&seed)),
        "version": version,
    }))
}

fn verify(input: SignInput) -> Result<Json, AgentError> {
    let data = input.encoding.decode("data", &input.data)?;
    let signature = input
        .signature
        .as_deref()
        .ok_or_else(|| AgentError::invalid("`signature` is required"))?;
    let signature = binary(input.output)?.decode("signature", signature)?;
    match (&input.key_name, &input.public_key) {
        (Some(name), None) => {
            let key = keyring::load(name, &[KeyKind::Ed25519])?;
            let candidates: Vec<&keyring::Version> = match input.version {
                Some(v) => vec![key.usable(name, v)?],
                None => key
                    .versions
                    .iter()
                    .filter(|v| v.status == keyring::Status::Active)
                    .collect(),
            };
            for v in candidates {
                let public = asymmetric::ed25519_public(&v.secret());
                if asymmetric::ed25519_verify(&public, &data, &signature)? {
                    return tandem_sdk::to_json(&json!({"valid": true, "version": v.version}));
                }
            }
            tandem_sdk::to_json(&json!({"valid": false}))
        }
        (None, Some(public)) => {
            let valid =
                asymmetric::ed25519_verify(&hex32("public-key", public)?, &data, &signature)?;
            tandem_sdk::to_json(&json!({"valid": valid}))
        }
        _ => Err(AgentError::invalid(
            "give `key-name` or `public-key`, one of them",
        )),
    }
}

fn agree(input: AgreeInput) -> Result<Json, AgentError> {
    let (secret, version) = private_key(&input.key_name, &input.private_key, KeyKind::X25519)?;
    let shared =
        asymmetric::x25519_agree(&secret, &hex32("peer-public-key", &input.peer_public_key)?)?;
    tandem_sdk::to_json(&json!({
        "shared-secret": binary(input.output)?.encode("shared-secret", &shared)?,
        "public-key": hex::encode(asymmetric::x25519_public(&secret)),
        "version": version,
    }))
}

fn cipher_of(kind: KeyKind) -> Cipher {
    match kind {
        KeyKind::Aes256Gcm => Cipher::Aes256Gcm,
        _ => Cipher::ChaCha20Poly1305,
    }
}

const AEAD_KINDS: [KeyKind; 2] = [KeyKind::ChaCha20Poly1305, KeyKind::Aes256Gcm];

fn encrypt(input: SealInput) -> Result<Json, AgentError> {
    if input.nonce.is_some() {
        return Err(AgentError::invalid(
            "`encrypt` makes its own nonce: leave `nonce` out",
        ));
    }
    let plaintext = input
        .encoding
        .unwrap_or(Encoding::Utf8)
        .decode("data", &input.data)?;
    let out = binary(input.output)?;
    let (cipher, key, nonce, version) = match (&input.key_name, &input.key) {
        (Some(name), None) => {
            let sealing = keyring::next_counter(name, &AEAD_KINDS)?;
            (
                cipher_of(sealing.kind),
                sealing.secret,
                aead::nonce(Some(sealing.counter)),
                Some(sealing.version),
            )
        }
        (None, Some(raw)) => {
            let cipher = input
                .algorithm
                .ok_or_else(|| AgentError::invalid("a raw `key` needs its `algorithm`"))?;
            (
                cipher,
                zeroize::Zeroizing::new(hex32("key", raw)?),
                aead::nonce(None),
                None,
            )
        }
        _ => {
            return Err(AgentError::invalid(
                "give `key-name` or `key` (raw), one of them",
            ));
        }
    };
    let aad = input.aad_encoding.decode("aad", &input.aad)?;
    let sealed = aead::seal(cipher, &key, &nonce, &plaintext, &aad);
    tandem_sdk::to_json(&json!({
        "algorithm": cipher,
        "version": version,
        "nonce": hex::encode(nonce),
        "ciphertext": out.encode("ciphertext", &sealed)?,
    }))
}

fn decrypt(input: SealInput) -> Result<Json, AgentError> {
    let ciphertext = input
        .encoding
        .unwrap_or(Encoding::Hex)
        .decode("data", &input.data)?;
    let nonce_text = input
        .nonce
        .as_deref()
        .ok_or_else(|| AgentError::invalid("`nonce` is required"))?;
    let nonce = exact::<12>("nonce", &Encoding::Hex.decode("nonce", nonce_text)?)?;
    let (cipher, key) = match (&input.key_name, &input.key) {
        (Some(name), None) => {
            let key = keyring::load(name, &AEAD_KINDS)?;
            let version = input.version.ok_or_else(|| {
                AgentError::invalid("`version` is required (encrypt returned it)")
            })?;
            (cipher_of(key.kind), key.usable(name, version)?.secret())
        }
        (None, Some(raw)) => {
            let cipher = input
                .algorithm
                .ok_or_else(|| AgentError::invalid("a raw `key` needs its `algorithm`"))?;
            (cipher, zeroize::Zeroizing::new(hex32("key", raw)?))
        }
        _ => {
            return Err(AgentError::invalid(
                "give `key-name` or `key` (raw), one of them",
            ));
        }
    };
    let aad = input.aad_encoding.decode("aad", &input.aad)?;
    let plaintext = aead::open(cipher, &key, &nonce, &ciphertext, &aad)?;
    let out = input.output.unwrap_or(Encoding::Utf8);
    tandem_sdk::to_json(&json!({"plaintext": out.encode("plaintext", &plaintext)?}))
}
