//! How bytes travel in JSON: `utf8` text, `hex`, or `base64` (standard alphabet, padded; the URL-safe
//! alphabet and missing padding are accepted on input).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use tandem_sdk::AgentError;

/// An encoding of bytes as text.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Utf8,
    Hex,
    Base64,
}

impl Encoding {
    /// The bytes `text` stands for; `what` names the field in the error.
    pub fn decode(self, what: &str, text: &str) -> Result<Vec<u8>, AgentError> {
        match self {
            Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
            Encoding::Hex => hex::decode(text.trim())
                .map_err(|e| AgentError::invalid(format!("`{what}` is not hex: {e}"))),
            Encoding::Base64 => {
                let t = text.trim();
                STANDARD
                    .decode(t)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
                    .map_err(|e| AgentError::invalid(format!("`{what}` is not base64: {e}")))
            }
        }
    }

    /// `bytes` as text (`utf8` output of bytes that are not UTF-8 is an error naming `what`).
    pub fn encode(self, what: &str, bytes: &[u8]) -> Result<String, AgentError> {
        match self {
            Encoding::Utf8 => String::from_utf8(bytes.to_vec()).map_err(|_| {
                AgentError::invalid(format!(
                    "`{what}` is not UTF-8 text: ask for `hex` or `base64` output"
                ))
            }),
            Encoding::Hex => Ok(hex::encode(bytes)),
            Encoding::Base64 => Ok(STANDARD.encode(bytes)),
        }
    }
}

/// The output encoding of binary results: `hex` unless asked otherwise.
pub fn binary(asked: Option<Encoding>) -> Result<Encoding, AgentError> {
    match asked {
        None => Ok(Encoding::Hex),
        Some(Encoding::Utf8) => Err(AgentError::invalid(
            "binary output is `hex` or `base64`, not `utf8`",
        )),
        Some(e) => Ok(e),
    }
}

/// Exactly `N` bytes, or an error naming the field and the length wanted.
pub fn exact<const N: usize>(what: &str, bytes: &[u8]) -> Result<[u8; N], AgentError> {
    bytes.try_into().map_err(|_| {
        AgentError::invalid(format!("`{what}` must be {N} bytes, not {}", bytes.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_errors() {
        assert_eq!(Encoding::Hex.decode("x", "00ff").unwrap(), [0, 255]);
        assert_eq!(Encoding::Base64.decode("x", "AP8=").unwrap(), [0, 255]);
        assert_eq!(Encoding::Base64.decode("x", "AP8").unwrap(), [0, 255]);
        assert_eq!(Encoding::Base64.encode("x", &[0, 255]).unwrap(), "AP8=");
        assert!(
            Encoding::Hex
                .decode("key", "0g")
                .unwrap_err()
                .to_string()
                .contains("`key`")
        );
        assert!(Encoding::Utf8.encode("plaintext", &[0xff]).is_err());
        assert!(exact::<32>("key", &[0; 16]).is_err());
    }
}
