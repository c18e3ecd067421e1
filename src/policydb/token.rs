//! Bearer tokens for the admin API: 32 bytes from the operating system's generator, shown once
//! as `crt_` + base64url, and stored only as the SHA-256 of that text. A stolen database
//! therefore holds no usable token, and a token is found by an equality lookup on its hash
//! (which leaks nothing an attacker could steer, so no constant-time comparison is needed).

use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{DbError, PolicyDb};
use crate::time::Time;

/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "crt_";

/// Random bytes in a token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

/// Hex digits of the hash that name a token in logs and audit actors.
const TOKEN_ID_LEN: usize = 16;

/// What a token grants. The role is the caller's string (the policy layer owns the roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The first hex digits of the token's hash: names it without revealing it.
    pub id: String,
    pub role: String,
    /// The organisations it may act on.
    pub orgs: Vec<String>,
    pub label: String,
    pub created_at: Time,
}

/// A new token, from the operating system's generator.
fn generate() -> Result<String, DbError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| DbError::Random(e.to_string()))?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(format!("{TOKEN_PREFIX}{encoded}"))
}

/// The stored form of a token: SHA-256 of its text, lower-case hex.
pub(crate) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl PolicyDb {
    /// Issues a token for `role` over `orgs` and returns it: the only time it is ever seen.
    pub async fn create_token(
        &self,
        role: &str,
        orgs: &[String],
        label: &str,
        at: Time,
    ) -> Result<String, DbError> {
        let token = generate()?;
        let orgs = serde_json::to_string(orgs).map_err(DbError::Encode)?;
        sqlx::query(
            "INSERT INTO tokens (hash, role, orgs, label, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&token))
        .bind(role)
        .bind(orgs)
        .bind(label)
        .bind(at.to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Makes `token` invalid from now on; true if it existed. For a token that was never
    /// shown (its printing failed): nobody could use it, so it must not stay valid either.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, DbError> {
        let deleted = sqlx::query("DELETE FROM tokens WHERE hash = $1")
            .bind(token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// What `token` grants, or `None` if it was never issued.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenInfo>, DbError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let row = sqlx::query("SELECT role, orgs, label, created_at FROM tokens WHERE hash = $1")
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id = hash[..TOKEN_ID_LEN].to_owned();
        let corrupt = |reason: String| DbError::Corrupt {
            kind: "token".into(),
            id: id.clone(),
            reason,
        };
        let orgs: String = row.try_get("orgs")?;
        let orgs = serde_json::from_str(&orgs).map_err(|e| corrupt(format!("orgs: {e}")))?;
        let created_at: String = row.try_get("created_at")?;
        let created_at = Time::parse_rfc3339(&created_at)
            .ok_or_else(|| corrupt(format!("created_at {created_at:?}")))?;
        Ok(Some(TokenInfo {
            role: row.try_get("role")?,
            orgs,
            label: row.try_get("label")?,
            created_at,
            id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_base64url_of_32_bytes_and_differ() {
        let (a, b) = (generate().expect("os rng"), generate().expect("os rng"));
        for t in [&a, &b] {
            let body = t.strip_prefix(TOKEN_PREFIX).expect("prefix");
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .expect("base64url");
            assert_eq!(bytes.len(), TOKEN_BYTES);
        }
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_sha256_hex() {
        // FIPS 180-2 test vector.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
