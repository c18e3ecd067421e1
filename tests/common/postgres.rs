//! The test PostgreSQL that `scripts/test` starts (CALLREC_TEST_POSTGRES): a fresh schema of
//! its own for each test, so tests running side by side in one database never meet. The
//! URL it gives sets the schema as the connection's search path, so callrec (and the test's
//! own connections) create and find every table there.

use sqlx::AnyPool;
use std::hash::{DefaultHasher, Hash, Hasher};

/// PostgreSQL cuts identifiers at 63 bytes.
const MAX_IDENTIFIER: usize = 63;

/// The test database's URL, or a panic saying how to start one.
pub fn base_url() -> String {
    std::env::var("CALLREC_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "CALLREC_TEST_POSTGRES is not set: run ./scripts/test, which starts a throwaway \
             PostgreSQL for these tests (or scripts/postgres start DIR and export its line)"
        )
    })
}

/// The schema `test` of this test binary (`prefix` names the binary) runs in: the process id
/// keeps two runs apart, and a name too long for PostgreSQL keeps a hash of the whole of it,
/// so two long test names sharing their start do not share a schema.
pub fn schema_name(prefix: &str, test: &str) -> String {
    let name = format!("{prefix}_{}_{test}", std::process::id());
    if name.len() <= MAX_IDENTIFIER {
        return name;
    }
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    let hash = format!("_{:016x}", hasher.finish());
    format!("{}{hash}", &name[..MAX_IDENTIFIER - hash.len()])
}

/// A URL of the test database whose search path is `schema`.
fn url_in(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// An empty schema of its own for `test` (dropped first if an earlier run left it), and the
/// URL that works in it.
pub async fn fresh_schema(prefix: &str, test: &str) -> String {
    let base = base_url();
    let schema = schema_name(prefix, test);
    sqlx::any::install_default_drivers();
    let admin = AnyPool::connect(&base)
        .await
        .expect("connect to the test PostgreSQL");
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(&sql).execute(&admin).await.expect("schema");
    }
    admin.close().await;
    url_in(&base, &schema)
}

/// [`fresh_schema`] for a test that runs no async runtime of its own.
pub fn fresh_schema_blocking(prefix: &str, test: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(fresh_schema(prefix, test))
}

/// Runs each named async test body twice: `mod sqlite` on the test file's
/// `TestDb::sqlite(name)`, `mod postgres` on its `TestDb::postgres(name)`.
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestDb::sqlite(stringify!($name)).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestDb::postgres(stringify!($name)).await).await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both;
