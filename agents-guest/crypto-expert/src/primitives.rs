//! Hashes (SHA-256, SHA-512 from `sha2`, SHA3-256 from `sha3`, BLAKE3 from `blake3`), HMAC
//! (`hmac`, verification in constant time) and HKDF (`hkdf`), as RFC 2104 and RFC 5869 define them.

use hmac::{Mac, SimpleHmac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use tandem_sdk::AgentError;

/// A hash function.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    #[serde(rename = "sha256")]
    Sha256,
    #[serde(rename = "sha512")]
    Sha512,
    #[serde(rename = "sha3-256")]
    Sha3_256,
    #[serde(rename = "blake3")]
    Blake3,
}

pub fn hash(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        HashAlgorithm::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
        HashAlgorithm::Blake3 => blake3::hash(data).as_bytes().to_vec(),
    }
}

/// The hash of HMAC and HKDF.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MacAlgorithm {
    #[default]
    #[serde(rename = "sha256")]
    Sha256,
    #[serde(rename = "sha512")]
    Sha512,
}

pub fn hmac(algorithm: MacAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    match algorithm {
        MacAlgorithm::Sha256 => {
            let mut mac = SimpleHmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        MacAlgorithm::Sha512 => {
            let mut mac = SimpleHmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// Whether `tag` is the HMAC of `data`, compared in constant time.
pub fn hmac_verify(algorithm: MacAlgorithm, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let expected = hmac(algorithm, key, data);
    expected.len() == tag.len() && bool::from(expected.ct_eq(tag))
}

/// HKDF extract-then-expand to `length` bytes (at most 255 hash lengths).
pub fn hkdf(
    algorithm: MacAlgorithm,
    ikm: &[u8],
    salt: Option<&[u8]>,
    info: &[u8],
    length: usize,
) -> Result<Vec<u8>, AgentError> {
    let mut okm = vec![0u8; length];
    let result = match algorithm {
        MacAlgorithm::Sha256 => hkdf::Hkdf::<Sha256>::new(salt, ikm).expand(info, &mut okm),
        MacAlgorithm::Sha512 => hkdf::Hkdf::<Sha512>::new(salt, ikm).expand(info, &mut okm),
    };
    result.map_err(|_| {
        let max = match algorithm {
            MacAlgorithm::Sha256 => 255 * 32,
            MacAlgorithm::Sha512 => 255 * 64,
        };
        AgentError::invalid(format!("`length` {length}: HKDF gives 1 to {max} bytes"))
    })?;
    if length == 0 {
        return Err(AgentError::invalid("`length` must be at least 1"));
    }
    Ok(okm)
}

/// Hashes `megabytes` MiB (a buffer made here, in 1 MiB pieces fed to one hasher) and measures
/// it: `(bytes, seconds)`. The same function runs inside the sandbox (`benchmark`) and natively
/// (`cargo test -p crypto-expert --release -- --ignored throughput`), so the two figures compare
/// the same code.
pub fn throughput(algorithm: HashAlgorithm, megabytes: usize) -> (usize, f64) {
    let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    fn feed<D: Digest>(chunk: &[u8], megabytes: usize) -> Vec<u8> {
        let mut hasher = D::new();
        (0..megabytes).for_each(|_| hasher.update(chunk));
        hasher.finalize().to_vec()
    }
    let started = std::time::Instant::now();
    let digest = match algorithm {
        HashAlgorithm::Sha256 => feed::<Sha256>(&chunk, megabytes),
        HashAlgorithm::Sha512 => feed::<Sha512>(&chunk, megabytes),
        HashAlgorithm::Sha3_256 => feed::<sha3::Sha3_256>(&chunk, megabytes),
        HashAlgorithm::Blake3 => {
            let mut hasher = blake3::Hasher::new();
            (0..megabytes).for_each(|_| {
                hasher.update(&chunk);
            });
            hasher.finalize().as_bytes().to_vec()
        }
    };
    std::hint::black_box(digest);
    (megabytes << 20, started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn nist_sha_vectors() {
        // FIPS 180-2 / FIPS 202 examples: "abc" and the empty string.
        assert_eq!(
            hash(HashAlgorithm::Sha256, b"abc"),
            h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            hash(HashAlgorithm::Sha256, b""),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            hash(
                HashAlgorithm::Sha256,
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ),
            h("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        );
        assert_eq!(
            hash(HashAlgorithm::Sha512, b"abc"),
            h(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            )
        );
        assert_eq!(
            hash(HashAlgorithm::Sha3_256, b"abc"),
            h("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        );
        assert_eq!(
            hash(HashAlgorithm::Sha3_256, b""),
            h("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a")
        );
    }

    #[test]
    fn blake3_official_vectors() {
        // BLAKE3's test_vectors.json: input byte i is i % 251; lengths 0 and 1.
        assert_eq!(
            hash(HashAlgorithm::Blake3, b""),
            h("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
        );
        assert_eq!(
            hash(HashAlgorithm::Blake3, &[0]),
            h("2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213")
        );
    }

    #[test]
    fn rfc_4231_hmac() {
        let key = [0x0b; 20];
        assert_eq!(
            hmac(MacAlgorithm::Sha256, &key, b"Hi There"),
            h("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            hmac(MacAlgorithm::Sha512, &key, b"Hi There"),
            h(
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
            )
        );
        assert_eq!(
            hmac(
                MacAlgorithm::Sha256,
                b"Jefe",
                b"what do ya want for nothing?"
            ),
            h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        let tag = h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(hmac_verify(
            MacAlgorithm::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            &tag
        ));
        assert!(!hmac_verify(
            MacAlgorithm::Sha256,
            b"Jefe",
            b"what do ya want for nothing!",
            &tag
        ));
        assert!(!hmac_verify(
            MacAlgorithm::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            &tag[..16]
        ));
    }

    /// The native half of `just bench-agents`' crypto rows.
    #[test]
    #[ignore]
    fn throughput_natively() {
        for (name, algorithm) in [
            ("sha256", HashAlgorithm::Sha256),
            ("blake3", HashAlgorithm::Blake3),
        ] {
            let (bytes, seconds) = throughput(algorithm, 256);
            println!(
                "native {name}: {:.1} MB/s",
                bytes as f64 / seconds / 1048576.0
            );
        }
    }

    #[test]
    fn rfc_5869_hkdf() {
        let okm = hkdf(
            MacAlgorithm::Sha256,
            &[0x0b; 22],
            Some(&h("000102030405060708090a0b0c")),
            &h("f0f1f2f3f4f5f6f7f8f9"),
            42,
        )
        .unwrap();
        assert_eq!(
            okm,
            h(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
            )
        );
        // Test case 3: no salt, no info.
        let okm = hkdf(MacAlgorithm::Sha256, &[0x0b; 22], None, b"", 42).unwrap();
        assert_eq!(
            okm,
            h(
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
            )
        );
        assert!(hkdf(MacAlgorithm::Sha256, b"k", None, b"", 255 * 32 + 1).is_err());
    }
}
