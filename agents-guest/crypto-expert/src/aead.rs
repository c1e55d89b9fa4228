//! Authenticated encryption: ChaCha20-Poly1305 (`chacha20poly1305`, RFC 8439) and AES-256-GCM
//! (`aes-gcm`), 256-bit keys, 96-bit nonces, the 16-byte tag appended to the ciphertext.
//!
//! Nonces are made by the agent, never taken from a caller for a key of the key ring: a key-ring
//! key's nonce is its version's message counter (8 bytes, kept in state and advanced in the same
//! transaction as the call) followed by 4 random bytes, so two messages under one key never share
//! one; a raw key given inline gets 12 random bytes (safe for 2^32 messages per key).

use aes_gcm::Aes256Gcm;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use tandem_sdk::AgentError;

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

/// A nonce: `counter` (when the key ring keeps one) then random bytes.
pub fn nonce(counter: Option<u64>) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    if let Some(counter) = counter {
        nonce[..8].copy_from_slice(&counter.to_be_bytes());
    }
    nonce
}

pub fn seal(
    cipher: Cipher,
    key: &[u8; 32],
    nonce: &[u8; 12],
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let sealed = match cipher {
        Cipher::ChaCha20Poly1305 => {
            ChaCha20Poly1305::new(key.into()).encrypt(nonce.into(), payload)
        }
        Cipher::Aes256Gcm => Aes256Gcm::new(key.into()).encrypt(nonce.into(), payload),
    };
    sealed.expect("encryption of a bounded input cannot fail")
}

pub fn open(
    cipher: Cipher,
    key: &[u8; 32],
    nonce: &[u8; 12],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, AgentError> {
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    let opened = match cipher {
        Cipher::ChaCha20Poly1305 => {
            ChaCha20Poly1305::new(key.into()).decrypt(nonce.into(), payload)
        }
        Cipher::Aes256Gcm => Aes256Gcm::new(key.into()).decrypt(nonce.into(), payload),
    };
    opened.map_err(|_| {
        AgentError::failed(
            "the ciphertext does not authenticate: wrong key, nonce or associated data, or it was altered",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rfc_8439_chacha20_poly1305() {
        // Section 2.8.2.
        let key: [u8; 32] = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .try_into()
            .unwrap();
        let nonce: [u8; 12] = h("070000004041424344454647").try_into().unwrap();
        let aad = h("50515253c0c1c2c3c4c5c6c7");
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = seal(Cipher::ChaCha20Poly1305, &key, &nonce, plaintext, &aad);
        assert_eq!(
            hex::encode(&sealed),
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116\
             1ae10b594f09e26a7e902ecbd0600691"
        );
        assert_eq!(
            open(Cipher::ChaCha20Poly1305, &key, &nonce, &sealed, &aad).unwrap(),
            plaintext
        );
        assert!(open(Cipher::ChaCha20Poly1305, &key, &nonce, &sealed, b"other").is_err());
    }

    #[test]
    fn gcm_spec_aes_256_vectors() {
        // McGrew and Viega's GCM test cases 13 and 14 (256-bit zero key, zero IV).
        let key = [0u8; 32];
        let nonce = [0u8; 12];
        assert_eq!(
            hex::encode(seal(Cipher::Aes256Gcm, &key, &nonce, b"", b"")),
            "530f8afbc74536b9a963b4f1c4cb738b"
        );
        assert_eq!(
            hex::encode(seal(Cipher::Aes256Gcm, &key, &nonce, &[0u8; 16], b"")),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
    }

    #[test]
    fn nonces_carry_the_counter() {
        let a = nonce(Some(7));
        assert_eq!(&a[..8], &7u64.to_be_bytes());
        assert_ne!(nonce(None), nonce(None));
    }
}
