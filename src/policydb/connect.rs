//! Opening the policy database, with errors that give the real cause at once: a PostgreSQL
//! server that refuses or does not answer is named by host and port within seconds (not a
//! pool's "timed out" after 30 s), an SQLite file that cannot be opened is named by its path,
//! and a read never creates an empty database where a mistyped path pointed (see [`Create`]).
//! Never logs or shows a password: PostgreSQL is named by host and port only.

use super::DbError;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Connections each process keeps to the database.
pub const MAX_CONNECTIONS: u32 = 8;

/// How long a PostgreSQL server has to accept the first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether opening may create an SQLite database that does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// Commands that write (`serve`, `token create`, `policy PUT|POST|DELETE`): the first of
    /// them creates the database.
    IfMissing,
    /// Commands that only read: a missing file is a mistyped path far more often than a wish
    /// for an empty database, so it is an error naming the path.
    Never,
}

/// The pool for `url` (`sqlite://PATH` or `postgres://...`), reachable and open.
pub(super) async fn connect(url: &str, create: Create) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    if url.starts_with("sqlite:") {
        // Each pooled connection would get its own empty in-memory database.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        }
        return connect_sqlite(url, create).await;
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return connect_postgres(url).await;
    }
    Err(DbError::UnsupportedUrl(url.to_owned()))
}

async fn connect_sqlite(url: &str, create: Create) -> Result<AnyPool, DbError> {
    let path = sqlite_path(url);
    if create == Create::Never && !path.exists() {
        return Err(DbError::NoDatabase { path });
    }
    let url = match (create, url.contains("mode=")) {
        (_, true) => url.to_owned(),
        (Create::IfMissing, false) => with_query(url, "mode=rwc"),
        (Create::Never, false) => with_query(url, "mode=rw"),
    };
    let cannot_open = |e: sqlx::Error| {
        let reason = match e.as_database_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        };
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let reason = match parent {
            Some(dir) if !dir.is_dir() => {
                format!("{reason} (its directory {} does not exist)", dir.display())
            }
            _ => reason,
        };
        DbError::CannotOpen {
            path: path.clone(),
            reason,
        }
    };
    let pool = AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect(&url)
        .await
        .map_err(cannot_open)?;
    // Persistent in the file; SQLite's busy timeout (sqlx sets 5 s) covers writers.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&pool)
        .await
        .map_err(cannot_open)?;
    Ok(pool)
}

async fn connect_postgres(url: &str) -> Result<AnyPool, DbError> {
    let server = match sqlx::postgres::PgConnectOptions::from_str(url) {
        Ok(options) => format!("{}:{}", options.get_host(), options.get_port()),
        Err(e) => return Err(DbError::Sql(e)),
    };
    // One connection first: a pool retries a refused connection until its acquire timeout
    // (30 s) and then reports only that it timed out.
    let unreachable = |reason: String| DbError::Unreachable {
        server: server.clone(),
        reason,
    };
    let first = tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(url))
        .await
        .map_err(|_| unreachable(format!("no answer in {} s", CONNECT_TIMEOUT.as_secs())))?;
    match first {
        Ok(connection) => {
            let _ = connection.close().await;
        }
        Err(sqlx::Error::Io(e)) => {
            return Err(unreachable(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    "connection refused (is PostgreSQL running and listening there?)".into()
                }
                _ => e.to_string(),
            }))
        }
        Err(e) => return Err(DbError::Sql(e)),
    }
    Ok(AnyPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect(url)
        .await?)
}

/// The file an `sqlite:` URL names (`sqlite://a/b.sqlite?x=y` → `a/b.sqlite`).
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    Path::new(path).to_path_buf()
}

fn with_query(url: &str, pair: &str) -> String {
    match url.contains('?') {
        true => format!("{url}&{pair}"),
        false => format!("{url}?{pair}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://policy.sqlite"),
            Path::new("policy.sqlite")
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/p.db?mode=rwc"),
            Path::new("/var/lib/p.db")
        );
        assert_eq!(sqlite_path("sqlite:p.db"), Path::new("p.db"));
    }
}
