//! The policy database a scenario that runs the `callrec` binary works on: the default SQLite
//! file in the scenario's folder, or a schema of its own in the test PostgreSQL. One copy for
//! the recordings, legal-hold and webhook scenarios, and [`on_both_dbs`] to run each on both.

use std::path::Path;
use std::process::Command;

pub enum Db {
    /// The default: `sqlite://policy.sqlite` in the scenario's folder.
    Sqlite,
    /// A schema of its own in the test PostgreSQL.
    Postgres { url: String },
}

impl Db {
    /// A fresh schema named after the test binary (`prefix`) and `test`.
    pub fn postgres(prefix: &str, test: &str) -> Db {
        Db::Postgres {
            url: super::postgres::fresh_schema_blocking(prefix, test),
        }
    }

    /// `callrec`, run in `dir` ([`callrec_in`]); the database is named by [`Db::args`].
    pub fn command(&self, dir: &Path) -> Command {
        callrec_in(dir)
    }

    /// The URL the test opens the database by.
    pub fn url(&self, dir: &Path) -> String {
        match self {
            Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("policy.sqlite").display()),
            Db::Postgres { url } => url.clone(),
        }
    }

    /// The flags that point a `callrec` command at it.
    pub fn args(&self) -> Vec<&str> {
        match self {
            Db::Sqlite => Vec::new(),
            Db::Postgres { url } => vec!["--policy-db", url],
        }
    }
}

/// `callrec`, run in `dir`, reading no database URL from the test's environment (the scenario
/// names it, by flag or in its configuration file).
pub fn callrec_in(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callrec"));
    command.current_dir(dir).env_remove("CALLREC_POLICY_DB");
    command
}

/// Runs each named scenario `fn NAME(db: &Db)` twice: `mod sqlite` and `mod postgres` (in a
/// schema named after `prefix` and the test).
#[allow(unused_macros)]
macro_rules! on_both_dbs {
    ($prefix:literal: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::common::scenario_db::Db::Sqlite)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::common::scenario_db::Db::postgres(
                        $prefix,
                        stringify!($name),
                    ))
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_dbs;
