//! Ed25519 signatures (`ed25519-dalek`, RFC 8032) and X25519 key agreement (`x25519-dalek`,
//! RFC 7748). Private keys are 32-byte seeds; randomness is the WASI random source (`OsRng`).

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use rand_core::{OsRng, RngCore};
use tandem_sdk::AgentError;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// A fresh 32-byte secret from the WASI random source.
pub fn random_secret() -> Zeroizing<[u8; 32]> {
    let mut seed = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(seed.as_mut());
    seed
}

/// The Ed25519 public key of a seed.
pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

pub fn ed25519_sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    SigningKey::from_bytes(seed).sign(message).to_bytes()
}

/// Whether `signature` is `public`'s over `message` (strict verification: no malleable encodings).
pub fn ed25519_verify(
    public: &[u8; 32],
    message: &[u8],
    signature: &[u8],
) -> Result<bool, AgentError> {
    let key = VerifyingKey::from_bytes(public)
        .map_err(|_| AgentError::invalid("`public-key` is not an Ed25519 point"))?;
    let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
        return Err(AgentError::invalid(format!(
            "`signature` must be 64 bytes, not {}",
            signature.len()
        )));
    };
    Ok(key.verify_strict(message, &signature).is_ok() && key.verify(message, &signature).is_ok())
}

/// The X25519 public key of a secret.
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// The shared secret of `secret` and the peer's public key; an all-zero result (a low-order
/// peer key) is refused, as RFC 7748 section 6.1 allows.
pub fn x25519_agree(secret: &[u8; 32], peer: &[u8; 32]) -> Result<[u8; 32], AgentError> {
    let shared = StaticSecret::from(*secret).diffie_hellman(&PublicKey::from(*peer));
    if !shared.was_contributory() {
        return Err(AgentError::invalid(
            "`peer-public-key` is a low-order point: the shared secret would be all zeros",
        ));
    }
    Ok(shared.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn rfc_8032_ed25519() {
        // Test 1 (empty message) and test 2 (one byte).
        let seed = h32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = ed25519_public(&seed);
        assert_eq!(
            public,
            h32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let sig = ed25519_sign(&seed, b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(ed25519_verify(&public, b"", &sig).unwrap());
        assert!(!ed25519_verify(&public, b"x", &sig).unwrap());
        let seed = h32("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
        assert_eq!(
            ed25519_public(&seed),
            h32("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        );
        assert_eq!(
            hex::encode(ed25519_sign(&seed, &[0x72])),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
    }

    #[test]
    fn rfc_7748_x25519() {
        let alice = h32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob = h32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        assert_eq!(
            x25519_public(&alice),
            h32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            x25519_public(&bob),
            h32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let shared = h32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(x25519_agree(&alice, &x25519_public(&bob)).unwrap(), shared);
        assert_eq!(x25519_agree(&bob, &x25519_public(&alice)).unwrap(), shared);
        assert!(x25519_agree(&alice, &[0; 32]).is_err());
    }
}
