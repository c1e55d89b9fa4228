//! Password hashing with Argon2id (`argon2`, RFC 9106) in the PHC string format
//! (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), salts from the WASI random source. Defaults
//! are OWASP's: 19 MiB, 2 passes, 1 lane.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use tandem_sdk::AgentError;

/// Argon2id's cost parameters.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Cost {
    /// Memory in KiB (8 x lanes to 262 144 = 256 MiB).
    pub memory_kib: u32,
    /// Passes (1 to 16).
    pub iterations: u32,
    /// Lanes (1 to 8; computed one after another in the sandbox).
    pub parallelism: u32,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

impl Cost {
    fn params(self) -> Result<Params, AgentError> {
        if !(1..=16).contains(&self.iterations) || !(1..=8).contains(&self.parallelism) {
            return Err(AgentError::invalid(
                "`iterations` is 1 to 16 and `parallelism` 1 to 8",
            ));
        }
        if self.memory_kib < 8 * self.parallelism || self.memory_kib > 262_144 {
            return Err(AgentError::invalid(format!(
                "`memory-kib` is {} to 262144 (256 MiB)",
                8 * self.parallelism
            )));
        }
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| AgentError::invalid(format!("Argon2 parameters: {e}")))
    }
}

/// The PHC string of `password` under a fresh 16-byte salt.
pub fn hash(password: &[u8], cost: Cost) -> Result<String, AgentError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params()?);
    let salt = SaltString::generate(&mut OsRng);
    argon
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AgentError::failed(format!("Argon2id: {e}")))
}

/// Whether `password` matches `phc`, the parameters the string carries, and whether they are below
/// today's defaults (the hash should be redone at the next login).
pub fn verify(password: &[u8], phc: &str) -> Result<(bool, Cost, bool), AgentError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| AgentError::invalid(format!("`phc` is not a PHC string: {e}")))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(AgentError::invalid(format!(
            "`phc` is {}, not argon2id",
            parsed.algorithm
        )));
    }
    let params = Params::try_from(&parsed)
        .map_err(|e| AgentError::invalid(format!("`phc` parameters: {e}")))?;
    let cost = Cost {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    };
    // Refuse costs the agent would not make itself before spending them.
    cost.params()?;
    let valid = Argon2::default().verify_password(password, &parsed).is_ok();
    let default = Cost::default();
    let weaker = cost.memory_kib < default.memory_kib || cost.iterations < default.iterations;
    Ok((valid, cost, weaker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9106_argon2id_vector() {
        // Section 5.3: password 32 x 0x01, salt 16 x 0x02, secret 8 x 0x03, associated data
        // 12 x 0x04, m = 32 KiB, t = 3, p = 4, tag length 32.
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .output_len(32)
            .data(argon2::AssociatedData::new(&[4; 12]).unwrap())
            .build()
            .unwrap();
        let argon =
            Argon2::new_with_secret(&[3; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let mut tag = [0u8; 32];
        argon
            .hash_password_into(&[1; 32], &[2; 16], &mut tag)
            .unwrap();
        assert_eq!(
            hex::encode(tag),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }

    #[test]
    fn phc_round_trip_and_weak_parameters() {
        let cost = Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let phc = hash(b"hunter2", cost).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        let (ok, parsed, weaker) = verify(b"hunter2", &phc).unwrap();
        assert!(ok && weaker);
        assert_eq!(parsed, cost);
        assert!(!verify(b"hunter3", &phc).unwrap().0);
        assert!(verify(b"x", "$2b$12$abc").is_err());
        assert!(
            hash(
                b"x",
                Cost {
                    memory_kib: 1 << 30,
                    iterations: 1,
                    parallelism: 1
                }
            )
            .is_err()
        );
    }
}
