//! Bearer tokens for the admin API: 32 bytes from the operating system's generator, shown once
//! as `crt_` + base64url, and stored only as the SHA-256 of that text. A stolen database
//! therefore holds no usable token, and a token is found by an equality lookup on its hash
//! (which leaks nothing an attacker could steer, so no constant-time comparison is needed).

use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{DbError, PolicyDb};
use crate::time::Time;

/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "crt_";

/// Random bytes in a token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

/// Hex digits of the hash that name a token in logs and audit actors.
const TOKEN_ID_LEN: usize = 16;

/// What a token grants, to whom, and for how long. The role is the caller's string (the
/// policy layer owns the roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The first hex digits of the token's hash: names it without revealing it.
    pub id: String,
    /// The person it was issued to; for a token issued before tokens had one, `token:` and
    /// its id (it binds no one else).
    pub person: String,
    pub role: String,
    /// The organisations it may act on.
    pub orgs: Vec<String>,
    pub label: String,
    pub created_at: Time,
    /// `None` only for a token issued before tokens expired.
    pub expires_at: Option<Time>,
    pub revoked_at: Option<Time>,
}

impl TokenInfo {
    /// Why the token may not be used at `now`, if it may not.
    pub fn refusal(&self, now: Time) -> Option<String> {
        match (self.revoked_at, self.expires_at) {
            (Some(at), _) => Some(format!("token revoked at {}", at.to_rfc3339())),
            (None, Some(at)) if now >= at => Some(format!("token expired at {}", at.to_rfc3339())),
            _ => None,
        }
    }
}

/// A token to issue.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub person: &'a str,
    pub role: &'a str,
    pub orgs: &'a [String],
    pub label: &'a str,
    pub created_at: Time,
    pub expires_at: Time,
}

/// What revoking a token by its id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked now.
    Now(TokenInfo),
    /// It was already, at its `revoked_at`.
    Already(TokenInfo),
    /// No token has that id.
    Unknown,
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

const TOKEN_COLUMNS: &str = "hash, person, role, orgs, label, created_at, expires_at, revoked_at";

/// A `tokens` row as what it grants.
fn token_info(row: &AnyRow) -> Result<TokenInfo, DbError> {
    let hash: String = row.try_get("hash")?;
    let id = hash[..TOKEN_ID_LEN.min(hash.len())].to_owned();
    let corrupt = |reason: String| DbError::Corrupt {
        kind: "token".into(),
        id: id.clone(),
        reason,
    };
    let time = |column: &str| -> Result<Option<Time>, DbError> {
        let text: Option<String> = row.try_get(column)?;
        text.map(|t| Time::parse_rfc3339(&t).ok_or_else(|| corrupt(format!("{column} {t:?}"))))
            .transpose()
    };
    let orgs: String = row.try_get("orgs")?;
    let orgs = serde_json::from_str(&orgs).map_err(|e| corrupt(format!("orgs: {e}")))?;
    let person: String = row.try_get("person")?;
    Ok(TokenInfo {
        person: match person.is_empty() {
            true => format!("token:{id}"),
            false => person,
        },
        role: row.try_get("role")?,
        orgs,
        label: row.try_get("label")?,
        created_at: time("created_at")?.ok_or_else(|| corrupt("no created_at".into()))?,
        expires_at: time("expires_at")?,
        revoked_at: time("revoked_at")?,
        id,
    })
}

impl PolicyDb {
    /// Issues a token and returns it: the only time it is ever seen.
    pub async fn create_token(&self, new: &NewToken<'_>) -> Result<String, DbError> {
        let token = generate()?;
        let orgs = serde_json::to_string(new.orgs).map_err(DbError::Encode)?;
        sqlx::query(
            "INSERT INTO tokens (hash, person, role, orgs, label, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash(&token))
        .bind(new.person)
        .bind(new.role)
        .bind(orgs)
        .bind(new.label)
        .bind(new.created_at.to_rfc3339())
        .bind(new.expires_at.to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Removes `token` altogether; true if it existed. For a token that was never shown (its
    /// printing failed): nobody could use it, so it must not stay valid, nor be listed.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, DbError> {
        let deleted = sqlx::query("DELETE FROM tokens WHERE hash = $1")
            .bind(token_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Revokes the token named by `id` (the first hex digits of its hash, as listed) at `at`.
    /// Every worker reads tokens from this database on each request, so it is refused
    /// everywhere from the next request on.
    pub async fn revoke_token_id(&self, id: &str, at: Time) -> Result<Revoked, DbError> {
        let Some(info) = self.token_by_id(id).await? else {
            return Ok(Revoked::Unknown);
        };
        if info.revoked_at.is_some() {
            return Ok(Revoked::Already(info));
        }
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE hash LIKE $2 AND revoked_at IS NULL")
            .bind(at.to_rfc3339())
            .bind(format!("{id}%"))
            .execute(&self.pool)
            .await?;
        Ok(match self.token_by_id(id).await? {
            Some(revoked) => Revoked::Now(revoked),
            None => Revoked::Unknown,
        })
    }

    /// The token an id names, if exactly one does (ids are listed in full, 16 hex digits):
    /// also for a signed recording link, which names the token it was made for by id.
    pub async fn token_by_id(&self, id: &str) -> Result<Option<TokenInfo>, DbError> {
        if id.len() != TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let query = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash LIKE $1");
        let rows = sqlx::query(&query)
            .bind(format!("{}%", id.to_ascii_lowercase()))
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [row] => Ok(Some(token_info(row)?)),
            _ => Ok(None),
        }
    }

    /// Every token ever issued and not deleted, oldest first: expired and revoked ones too.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, DbError> {
        let query = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, hash");
        let rows = sqlx::query(&query).fetch_all(&self.pool).await?;
        rows.iter().map(token_info).collect()
    }

    /// What `token` grants, or `None` if it was never issued. Expired and revoked tokens are
    /// returned too ([`TokenInfo::refusal`] says why they may not be used), so that a caller
    /// is told which it was.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenInfo>, DbError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let query = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1");
        let row = sqlx::query(&query)
            .bind(token_hash(token))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_info).transpose()
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
