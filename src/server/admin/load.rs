//! The one way an admin handler changes an organisation's policy documents, [`modify`]: load
//! the documents the operation starts from, check the caller may change the organisation,
//! apply the operation, save each changed document against the version it was read at, and
//! run the whole again on fresh documents when another write got there first. Also the loads
//! that answer 404 for an unknown id, which the read handlers share. Must never decide policy
//! (the model's operations do) nor shape a response.
//!
//! Why one helper: the optimistic version check is what keeps two administrators' concurrent
//! changes from losing one of them, and it only holds if every write reads, computes and
//! saves in that order, and re-runs all three on a conflict. Written out in each handler, one
//! would sooner or later compute from a document read outside the loop.

use super::extract::{check_write, Writing};
use super::repo::{self, Read};
use super::state::{not_found, AdminState, ApiError};
use crate::policy::location::Location;
use crate::policy::organisation::Organisation;
use crate::policy::user::User;
use crate::policy::{Change, RetentionMigration};
use crate::policydb::{Change as By, Versioned};
use crate::time::Time;
use std::future::Future;

/// Times an operation is re-run after another write changed its documents under it.
pub(crate) const MAX_ATTEMPTS: usize = 8;

/// Runs `attempt` until it is not refused for a stale document, at most [`MAX_ATTEMPTS`]
/// times: concurrent changes apply one after the other, none is lost.
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.stale && tries < MAX_ATTEMPTS => tries += 1,
            result => return result,
        }
    }
}

/// The organisation, or 404.
pub(crate) async fn load_org(
    state: &AdminState,
    org: &str,
) -> Result<Versioned<Organisation>, ApiError> {
    repo::organisation(&state.db, org)
        .await?
        .ok_or_else(|| not_found(format!("no organisation {org}")))
}

/// The location of the request's organisation, or 404.
pub(crate) async fn load_location(
    state: &AdminState,
    org: &str,
    id: &str,
) -> Result<Versioned<Location>, ApiError> {
    repo::location(&state.db, org, id)
        .await?
        .ok_or_else(|| not_found(format!("no location {id} in organisation {org}")))
}

/// The person of the request's organisation, or 404.
pub(crate) async fn load_user(
    state: &AdminState,
    org: &str,
    id: &str,
) -> Result<Versioned<User>, ApiError> {
    repo::user(&state.db, org, id)
        .await?
        .ok_or_else(|| not_found(format!("no person {id} in organisation {org}")))
}

/// The documents of the request's organisation an operation starts from (each a 404 when it
/// is missing, in this order).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reads<'a> {
    /// The organisation.
    Organisation,
    /// The organisation and one location of it.
    Location(&'a str),
    /// One person alone: their own details.
    Person(&'a str),
    /// The organisation, one person of it and the location they are at: all that a person's
    /// recording depends on.
    PersonInContext(&'a str),
}

const LOADED: &str = "an operation reads only the documents its Reads loads";

/// The documents [`Reads`] loaded, each at the version it was read at.
pub(crate) struct Documents {
    organisation: Option<Versioned<Organisation>>,
    location: Option<Versioned<Location>>,
    user: Option<Versioned<User>>,
}

impl Documents {
    async fn load(state: &AdminState, org: &str, reads: Reads<'_>) -> Result<Self, ApiError> {
        let mut documents = Documents {
            organisation: None,
            location: None,
            user: None,
        };
        match reads {
            Reads::Organisation => {
                documents.organisation = Some(load_org(state, org).await?);
            }
            Reads::Location(id) => {
                documents.organisation = Some(load_org(state, org).await?);
                documents.location = Some(load_location(state, org, id).await?);
            }
            Reads::Person(id) => {
                documents.user = Some(load_user(state, org, id).await?);
            }
            Reads::PersonInContext(id) => {
                documents.organisation = Some(load_org(state, org).await?);
                let user = load_user(state, org, id).await?;
                let at = &user.value.location.0;
                documents.location = Some(load_location(state, org, at).await?);
                documents.user = Some(user);
            }
        }
        Ok(documents)
    }

    pub(crate) fn organisation(&self) -> &Organisation {
        &self.organisation.as_ref().expect(LOADED).value
    }

    pub(crate) fn location(&self) -> &Location {
        &self.location.as_ref().expect(LOADED).value
    }

    pub(crate) fn user(&self) -> &User {
        &self.user.as_ref().expect(LOADED).value
    }

    fn read(&self) -> Read<'_> {
        Read {
            organisation: self.organisation.as_ref(),
            location: self.location.as_ref(),
            user: self.user.as_ref(),
        }
    }
}

/// The documents an operation read, as it left them (changed or not), and the retention
/// migration it asks for.
pub(crate) struct Saved {
    organisation: Option<Organisation>,
    location: Option<Location>,
    user: Option<User>,
    pub migration: Option<RetentionMigration>,
}

impl Saved {
    fn new(documents: Documents, change: Change) -> Saved {
        fn value<T>(document: Option<Versioned<T>>) -> Option<T> {
            document.map(|d| d.value)
        }
        Saved {
            organisation: change.organisation.or(value(documents.organisation)),
            location: change.location.or(value(documents.location)),
            user: change.user.or(value(documents.user)),
            migration: change.migration,
        }
    }

    pub(crate) fn organisation(&self) -> &Organisation {
        self.organisation.as_ref().expect(LOADED)
    }

    pub(crate) fn location(&self) -> &Location {
        self.location.as_ref().expect(LOADED)
    }

    pub(crate) fn user(&self) -> &User {
        self.user.as_ref().expect(LOADED)
    }
}

/// Changes the request's organisation: loads what `reads` names, lets `operation` compute the
/// change from it (at `now`, the instant the audit trail records), and saves each changed
/// document against the version it was read at, as the caller's change. A document changed
/// meanwhile re-runs the whole on fresh documents (at most [`MAX_ATTEMPTS`] times); a refusal
/// or an unknown id is answered at once.
pub(crate) async fn modify<Op>(
    state: &AdminState,
    scope: &Writing,
    reads: Reads<'_>,
    operation: Op,
) -> Result<Saved, ApiError>
where
    Op: Fn(&Documents, Time) -> Result<Change, ApiError>,
{
    let nothing = || async { Ok(()) };
    modify_with(state, scope, reads, nothing, |documents, (), now| {
        operation(documents, now)
    })
    .await
}

/// [`modify`] for an operation whose rule reads more than the documents (every location of
/// the organisation, the organisations whose accounts a partner administers): `also` reads
/// it, afresh on each attempt, after the documents.
pub(crate) async fn modify_with<X, Also, Fut, Op>(
    state: &AdminState,
    scope: &Writing,
    reads: Reads<'_>,
    also: Also,
    operation: Op,
) -> Result<Saved, ApiError>
where
    Also: Fn() -> Fut,
    Fut: Future<Output = Result<X, ApiError>>,
    Op: Fn(&Documents, X, Time) -> Result<Change, ApiError>,
{
    check_write(&scope.caller, &scope.org)?;
    let actor = &scope.caller.actor();
    let (also, operation) = (&also, &operation);
    retrying(|| async move {
        let documents = Documents::load(state, &scope.org, reads).await?;
        let extra = also().await?;
        let now = state.now();
        let change = operation(&documents, extra, now)?;
        let by = By { actor, at: now };
        repo::save(&state.db, by, &documents.read(), &change).await?;
        Ok(Saved::new(documents, change))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::policy::model::OrgId;
    use crate::policy::region::Region;
    use crate::policydb::PolicyDb;
    use crate::server::admin::auth::{Caller, Role};
    use crate::server::admin::recording_link::LinkKey;
    use crate::server::admin::state::Metrics;
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn now() -> Time {
        Time::parse_rfc3339("2026-12-01T10:00:00Z").expect("valid")
    }

    /// A SQLite file, removed with its write-ahead log when dropped.
    struct SqliteFile(std::path::PathBuf);

    impl Drop for SqliteFile {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = self.0.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// A policy store of its own holding organisation `acme`, and a customer administrator's
    /// request to change it.
    async fn acme(test: &str) -> (AdminState, Writing, SqliteFile) {
        let name = format!("callrec-admin-load-{test}-{}.sqlite", std::process::id());
        let file = SqliteFile(std::env::temp_dir().join(name));
        // Whatever an earlier run left goes first.
        drop(SqliteFile(file.0.clone()));
        let path = &file.0;
        let db = PolicyDb::open(&format!("sqlite://{}", path.display()))
            .await
            .expect("open");
        db.migrate().await.expect("migrate");
        let org = Organisation::new(OrgId("acme".into()), "Acme", Region::Eu);
        let by = By {
            actor: "setup",
            at: now(),
        };
        repo::insert_organisation(&db, by, &org)
            .await
            .expect("insert");
        let state = AdminState {
            db,
            metrics: Arc::new(Metrics::default()),
            config: Arc::new(Config::default()),
            clock: now,
            throttle: Default::default(),
            links: Arc::new(LinkKey::random().expect("randomness")),
            key_files: Default::default(),
        };
        let caller = Caller {
            token_id: "t1".into(),
            person: "cat@example.com".into(),
            role: Role::CustomerAdmin,
            orgs: vec!["acme".into()],
            switches: Default::default(),
        };
        let scope = Writing {
            caller,
            org: "acme".into(),
        };
        (state, scope, file)
    }

    /// Renames `acme` behind the operation's back, as another request would.
    async fn rename_elsewhere(state: &AdminState, name: &str) -> Result<(), ApiError> {
        let org = load_org(state, "acme").await?;
        let after = Organisation {
            name: name.into(),
            ..org.value.clone()
        };
        let by = By {
            actor: "other",
            at: now(),
        };
        let change = Change {
            organisation: Some(after),
            ..Change::default()
        };
        let read = Read {
            organisation: Some(&org),
            ..Read::default()
        };
        Ok(repo::save(&state.db, by, &read, &change).await?)
    }

    /// Sets `acme`'s customer storage to `url` (a change that keeps its name).
    fn store_in(read: &Documents, url: &str) -> Result<Change, ApiError> {
        let org = read.organisation();
        let storage = crate::policy::organisation::CustomerStorage::url_only(url);
        Ok(org
            .set_customer_storage(Some(storage))
            .expect("a valid url"))
    }

    #[tokio::test]
    async fn a_change_that_raced_another_is_recomputed_and_both_are_kept() {
        let (state, scope, _file) = acme("raced").await;
        let attempts = AtomicUsize::new(0);
        let also = || async {
            // The first attempt's documents go stale once they are read.
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                rename_elsewhere(&state, "Acme Ltd").await?;
            }
            Ok(())
        };
        let operation = |read: &Documents, (), _| store_in(read, "s3://acme-calls");
        let saved = modify_with(&state, &scope, Reads::Organisation, also, operation)
            .await
            .expect("saved on the second attempt");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert_eq!(saved.organisation().name, "Acme Ltd");
        let stored = load_org(&state, "acme").await.expect("acme").value;
        assert_eq!(stored.name, "Acme Ltd");
        let url = stored.customer_storage.as_ref().and_then(|s| s.own_url());
        assert_eq!(url, Some("s3://acme-calls"));
        let actors: Vec<String> = state
            .db
            .audit("acme", 0, 10)
            .await
            .expect("audit")
            .into_iter()
            .map(|r| r.actor)
            .collect();
        assert_eq!(actors, ["setup", "other", "customer-admin:t1"]);
    }

    #[tokio::test]
    async fn a_change_that_loses_every_race_gives_up_after_the_bound() {
        let (state, scope, _file) = acme("lost").await;
        let attempts = AtomicUsize::new(0);
        let also = || async {
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            rename_elsewhere(&state, &format!("Acme {n}")).await
        };
        let operation = |read: &Documents, (), _| store_in(read, "s3://acme-calls");
        let refused = modify_with(&state, &scope, Reads::Organisation, also, operation)
            .await
            .err()
            .expect("stale every time");
        assert!(refused.stale);
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert_eq!(attempts.load(Ordering::SeqCst), MAX_ATTEMPTS);
        let stored = load_org(&state, "acme").await.expect("acme").value;
        assert_eq!(stored.customer_storage, None);
    }

    #[tokio::test]
    async fn a_read_only_token_and_an_unknown_id_change_nothing() {
        let (state, mut scope, _file) = acme("refused").await;
        let ran = AtomicUsize::new(0);
        let operation = |read: &Documents, _| {
            ran.fetch_add(1, Ordering::SeqCst);
            store_in(read, "s3://acme-calls")
        };
        scope.caller.role = Role::ReadOnly;
        let refused = modify(&state, &scope, Reads::Organisation, operation)
            .await
            .err()
            .expect("read-only");
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        scope.caller.role = Role::CustomerAdmin;
        let refused = modify(&state, &scope, Reads::Location("lyon"), operation)
            .await
            .err()
            .expect("no such location");
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        assert_eq!(refused.message, "no location lyon in organisation acme");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let audit = state.db.audit("acme", 0, 10).await.expect("audit");
        assert_eq!(audit.len(), 1, "only the set-up wrote");
    }
}
