//! Secrets handed out once (node tokens, later API and join tokens) and the
//! hashes kept in their place.

use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// A new random token: `<prefix>_` and 64 hex digits (256 bits).
#[must_use]
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex(&bytes))
}

/// The hash stored for a token: SHA-256 in hex. Tokens are 256 random bits, so
/// a fast hash suffices (unlike passwords).
#[must_use]
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = new_token("mnt");
        let b = new_token("mnt");
        assert_ne!(a, b);
        assert!(a.starts_with("mnt_") && a.len() == 4 + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
