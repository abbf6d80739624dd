//! Bearer tokens: only SHA-256 digests of tokens are configured or stored; a
//! presented token is hashed and compared in constant time. Tokens never reach
//! the logs. (The HTTP extractor that uses this is `api::auth`.)

use sha2::{Digest, Sha256};
use signalbox_core::config::Role;

/// A known token: who it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    pub sha256: String,
}

/// Lower-case hex SHA-256 of a token.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token: `sbx_` and 32 random bytes in hex.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("sbx_{}", hex::encode(bytes)))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Finds the token entry matching a presented bearer token.
pub fn authenticate<'a>(tokens: &'a [TokenEntry], presented: &str) -> Option<&'a TokenEntry> {
    let digest = sha256_hex(presented);
    // Check every entry so the time taken does not depend on which one matched.
    tokens
        .iter()
        .fold(None, |found, t| if constant_time_eq(t.sha256.as_bytes(), digest.as_bytes()) { Some(t) } else { found })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_by_digest_only() {
        let tokens = vec![
            TokenEntry { name: "a".into(), role: Role::Pipeline, sha256: sha256_hex("secret-a") },
            TokenEntry { name: "b".into(), role: Role::Incident, sha256: sha256_hex("secret-b") },
        ];
        assert_eq!(authenticate(&tokens, "secret-b").map(|t| t.name.as_str()), Some("b"));
        assert_eq!(authenticate(&tokens, "secret-c"), None);
        assert_eq!(authenticate(&tokens, &sha256_hex("secret-a")), None, "the digest itself is not a token");
    }

    #[test]
    fn new_tokens_are_distinct() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("sbx_") && a.len() == 68);
    }
}
