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
pub const MAX_ATTEMPTS: usize = 8;

/// Runs `attempt` until it is not refused for a stale document, at most [`MAX_ATTEMPTS`]
/// times: concurrent changes apply one after the other, none is lost.
pub async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
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
pub async fn load_org(state: &AdminState, org: &str) -> Result<Versioned<Organisation>, ApiError> {
    repo::organisation(&state.db, org)
        .await?
        .ok_or_else(|| not_found(format!("no organisation {org}")))
}

/// The location of the request's organisation, or 404.
pub async fn load_location(
    state: &AdminState,
    org: &str,
    id: &str,
) -> Result<Versioned<Location>, ApiError> {
    repo::location(&state.db, org, id)
        .await?
        .ok_or_else(|| not_found(format!("no location {id} in organisation {org}")))
}

/// The person of the request's organisation, or 404.
pub async fn load_user(
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
pub enum Reads<'a> {
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
pub struct Documents {
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

    pub fn organisation(&self) -> &Organisation {
        &self.organisation.as_ref().expect(LOADED).value
    }

    pub fn location(&self) -> &Location {
        &self.location.as_ref().expect(LOADED).value
    }

    pub fn user(&self) -> &User {
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
pub struct Saved {
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

    pub fn organisation(&self) -> &Organisation {
        self.organisation.as_ref().expect(LOADED)
    }

    pub fn location(&self) -> &Location {
        self.location.as_ref().expect(LOADED)
    }

    pub fn user(&self) -> &User {
        self.user.as_ref().expect(LOADED)
    }
}

/// Changes the request's organisation: loads what `reads` names, lets `operation` compute the
/// change from it (at `now`, the instant the audit trail records), and saves each changed
/// document against the version it was read at, as the caller's change. A document changed
/// meanwhile re-runs the whole on fresh documents (at most [`MAX_ATTEMPTS`] times); a refusal
/// or an unknown id is answered at once.
pub async fn modify<Op>(
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
pub async fn modify_with<X, Also, Fut, Op>(
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
