//! argon2id password hashes (m = 19 MiB, t = 2, p = 1), computed off the async
//! runtime and a few at a time, so a burst of sign-ins cannot starve requests
//! or exhaust memory.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;
use tokio::sync::Semaphore;

/// Memory cost in KiB (19 MiB), iterations and lanes: OWASP's argon2id baseline.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Hashes computed at once; each holds 19 MiB while it runs.
const CONCURRENT_HASHES: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was interrupted")]
    Interrupted,
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl PasswordHasher {
    #[must_use]
    pub fn new() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(CONCURRENT_HASHES)),
        }
    }

    /// The PHC string of `password` with a fresh salt.
    ///
    /// # Errors
    /// When hashing fails or the runtime is shutting down.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Interrupted)?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut salt = [0u8; 16];
            rand::rng().fill_bytes(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Hash(e.to_string()))?;
            argon2()?
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await
        .map_err(|_| HashError::Interrupted)?
    }

    /// Whether `password` matches the PHC string `hash`; a malformed hash
    /// matches nothing.
    ///
    /// # Errors
    /// When the runtime is shutting down.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Interrupted)?;
        let (password, hash) = (password.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Ok(false);
            };
            Ok(argon2()?
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|_| HashError::Interrupted)?
    }
}

/// A random password of `len` characters from an unambiguous alphabet.
#[must_use]
pub fn generate(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let i = usize::try_from(rng.next_u32()).unwrap_or(0) % ALPHABET.len();
            char::from(ALPHABET[i])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_configured_cost_and_verify() {
        let h = PasswordHasher::new();
        let hash = h.hash("correct horse battery").await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            h.verify("correct horse battery", &hash)
                .await
                .expect("verify")
        );
        assert!(
            !h.verify("wrong horse battery", &hash)
                .await
                .expect("verify")
        );
        assert!(
            !h.verify("anything", "not a phc string")
                .await
                .expect("verify")
        );
        let again = h.hash("correct horse battery").await.expect("hash");
        assert_ne!(hash, again, "salted");
    }

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let a = generate(24);
        assert_eq!(a.chars().count(), 24);
        assert!(muster_domain::users::check_password(&a).is_ok());
        assert_ne!(a, generate(24));
    }
}
