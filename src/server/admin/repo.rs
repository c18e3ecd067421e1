//! The policy model's documents in the policy store, as the admin API and the policy cache
//! read them. Owns the document conventions and the writes that keep them consistent; must
//! never decide policy (the model does) nor check who may call (the routes do).
//!
//! Kinds (each document's `org_id` is its organisation; the body is the model's serde JSON):
//! - `organisation`: id = the organisation's id; body [`Organisation`].
//! - `location`: id = the location's id; body [`Location`].
//! - `user`: id = the user's id; body [`User`].
//! - `aor`: id = a user's SIP address normalised by [`normalise_aor`]; body [`AorDoc`]; one per
//!   address of a user, so the primary key makes an address belong to one user only.
//! - `partnerAdmin`: id = a partner administrator's id; body [`PartnerAdminDoc`]; written in
//!   the transaction that first lists them among an organisation's account administrators,
//!   and deleted with that organisation, so the primary key makes a partner administrator
//!   administer one customer's accounts at most, even when two requests race.
//!
//! Every write goes through [`PolicyDb`] with the caller's actor, so each change is audited
//! (before and after). A change to several documents is written one document at a time (an
//! organisation with its new `partnerAdmin` documents together), each against the version it
//! was computed from: a stale one is [`RepoError::Stale`], and the caller re-runs the whole
//! operation on fresh documents (model operations are idempotent, so a partly written change
//! is completed, never doubled).

use crate::policy;
use crate::policy::location::Location;
use crate::policy::model::{Admin, AdminId, AdminRole, OrgId, UserId};
use crate::policy::organisation::Organisation;
use crate::policy::user::User;
use crate::policy::PolicyError;
use crate::policydb::{Change as By, DbError, PolicyDb, Versioned, Write, MAX_PAGE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub(crate) const ORGANISATION: &str = "organisation";
pub(crate) const LOCATION: &str = "location";
pub(crate) const USER: &str = "user";
pub(crate) const AOR: &str = "aor";
pub(crate) const PARTNER_ADMIN: &str = "partnerAdmin";

/// Most documents of one kind that an organisation-wide rule (a vendor choice, a disclosure,
/// a sync listing) reads at once.
pub(crate) const MAX_ORG_DOCUMENTS: usize = 100_000;

/// Longest SIP address accepted, normalised or not.
pub(crate) const MAX_AOR: usize = 256;

/// The body of an `aor` document: whose address it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AorDoc {
    pub user: UserId,
}

/// The body of a `partnerAdmin` document: the organisation whose provider accounts the partner
/// administrator administers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartnerAdminDoc {
    pub org_id: OrgId,
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The policy store failed, or refused the write (`NotFound`, `Exists`).
    #[error(transparent)]
    Db(DbError),
    /// A document changed since it was read; the operation is re-run on fresh documents.
    #[error("{kind} {id:?} changed while this request was being handled; try again")]
    Stale { kind: String, id: String },
    /// The SIP address is another user's (never named: it may be in another organisation).
    #[error("sipAddresses: '{aor}' already belongs to another user")]
    AorTaken { aor: String },
    /// A write the store refused for a model rule, found only as it was written (the
    /// partner rule, when another request listed the partner administrator first).
    #[error(transparent)]
    Refused(PolicyError),
    /// An organisation-wide read would exceed [`MAX_ORG_DOCUMENTS`].
    #[error("organisation {org} has more than {MAX_ORG_DOCUMENTS} {kind} documents")]
    TooMany { org: String, kind: &'static str },
}

impl From<DbError> for RepoError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Conflict { kind, id, .. } => RepoError::Stale { kind, id },
            e => RepoError::Db(e),
        }
    }
}

/// A user's SIP address as the `aor` documents key it: [`crate::policy::index::normalise_aor`]
/// (the key the recorder's policy lookups use too), with errors naming the field.
pub(crate) fn normalise_aor(input: &str) -> Result<String, String> {
    if input.len() > MAX_AOR {
        return Err(format!(
            "sipAddresses: must be 1-{MAX_AOR} characters, not {}",
            input.len()
        ));
    }
    crate::policy::index::normalise_aor(input).ok_or_else(|| {
        format!("sipAddresses: '{input}' is not a SIP address (sip:user@host or a global tel:)")
    })
}

pub(crate) async fn organisation(
    db: &PolicyDb,
    org: &str,
) -> Result<Option<Versioned<Organisation>>, RepoError> {
    Ok(db.get_in(org, ORGANISATION, org).await?)
}

pub(crate) async fn location(
    db: &PolicyDb,
    org: &str,
    id: &str,
) -> Result<Option<Versioned<Location>>, RepoError> {
    Ok(db.get_in(org, LOCATION, id).await?)
}

pub(crate) async fn user(
    db: &PolicyDb,
    org: &str,
    id: &str,
) -> Result<Option<Versioned<User>>, RepoError> {
    Ok(db.get_in(org, USER, id).await?)
}

/// The user of `org` with this (normalised) SIP address.
pub(crate) async fn user_by_aor(
    db: &PolicyDb,
    org: &str,
    aor: &str,
) -> Result<Option<Versioned<User>>, RepoError> {
    let Some(found) = db.get_in::<AorDoc>(org, AOR, aor).await? else {
        return Ok(None);
    };
    user(db, org, &found.value.user.0).await
}

/// One page of `org`'s documents of `kind`, by id, after `after`.
pub(crate) async fn page<T: DeserializeOwned>(
    db: &PolicyDb,
    kind: &str,
    org: &str,
    after: Option<&str>,
    max: usize,
) -> Result<Vec<Versioned<T>>, RepoError> {
    Ok(db.list(kind, org, after, max).await?)
}

/// Every document of `kind` in `org` (at most [`MAX_ORG_DOCUMENTS`]).
async fn all<T: DeserializeOwned>(
    db: &PolicyDb,
    kind: &'static str,
    org: &str,
) -> Result<Vec<Versioned<T>>, RepoError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Vec<Versioned<T>> = db.list(kind, org, after.as_deref(), MAX_PAGE).await?;
        let full = page.len() == MAX_PAGE;
        after = page.last().map(|d| d.id.clone());
        out.extend(page);
        if out.len() > MAX_ORG_DOCUMENTS {
            return Err(RepoError::TooMany {
                org: org.to_string(),
                kind,
            });
        }
        if !full {
            return Ok(out);
        }
    }
}

fn values<T>(documents: Vec<Versioned<T>>) -> Vec<T> {
    documents.into_iter().map(|d| d.value).collect()
}

pub(crate) async fn locations(db: &PolicyDb, org: &str) -> Result<Vec<Location>, RepoError> {
    all(db, LOCATION, org).await.map(values)
}

pub(crate) async fn users(db: &PolicyDb, org: &str) -> Result<Vec<User>, RepoError> {
    all(db, USER, org).await.map(values)
}

/// The organisation whose provider accounts list `admin`, if `admin` is a partner
/// administrator (the partner rule's `admin_account_orgs`): its `partnerAdmin` document's.
pub(crate) async fn admin_account_orgs(
    db: &PolicyDb,
    admin: &Admin,
) -> Result<Vec<OrgId>, RepoError> {
    if admin.role != AdminRole::Partner {
        return Ok(Vec::new());
    }
    let claim = db
        .get::<PartnerAdminDoc>(PARTNER_ADMIN, &admin.id.0)
        .await?;
    Ok(claim.map(|c| c.value.org_id).into_iter().collect())
}

/// The partner administrators `after`'s accounts list that `before`'s did not.
fn new_partner_admins<'a>(before: &Organisation, after: &'a Organisation) -> Vec<&'a Admin> {
    fn listed(org: &Organisation) -> impl Iterator<Item = &Admin> {
        org.accounts.iter().flat_map(|a| &a.admins)
    }
    let mut new: Vec<&Admin> = Vec::new();
    for admin in listed(after) {
        let partner = admin.role == AdminRole::Partner;
        if partner && !listed(before).any(|a| a == admin) && !new.contains(&admin) {
            new.push(admin);
        }
    }
    new
}

/// Saves `after` over `before` together with a `partnerAdmin` document for each partner
/// administrator it newly lists. One of them listed by another organisation meanwhile is
/// the partner rule's refusal, naming that organisation.
async fn save_organisation(
    db: &PolicyDb,
    by: By<'_>,
    before: &Versioned<Organisation>,
    after: &Organisation,
) -> Result<(), RepoError> {
    let org = &after.id.0;
    let claim = PartnerAdminDoc {
        org_id: after.id.clone(),
    };
    let claimed = new_partner_admins(&before.value, after);
    let mut writes = vec![Write::update(ORGANISATION, org, before.version, after)?];
    for admin in &claimed {
        writes.push(Write::insert(PARTNER_ADMIN, &admin.id.0, org, &claim)?);
    }
    match db.write_all(&writes, by).await {
        Err(DbError::Exists { kind, id }) if kind == PARTNER_ADMIN => {
            let holder = db.get::<PartnerAdminDoc>(PARTNER_ADMIN, &id).await?;
            match holder.map(|h| h.value.org_id) {
                Some(other) if other != after.id => {
                    Err(RepoError::Refused(PolicyError::PartnerAdminElsewhere {
                        admin: AdminId(id),
                        other,
                    }))
                }
                // Released or taken here meanwhile: the operation re-runs on what is there now.
                _ => Err(RepoError::Stale {
                    kind: PARTNER_ADMIN.into(),
                    id,
                }),
            }
        }
        result => Ok(result?),
    }
}

/// Removes an organisation (still at the version read) and releases the partner
/// administrators of its accounts, in one transaction.
pub(crate) async fn delete_organisation(
    db: &PolicyDb,
    by: By<'_>,
    org: &Versioned<Organisation>,
) -> Result<(), RepoError> {
    let claims: Vec<Versioned<PartnerAdminDoc>> = all(db, PARTNER_ADMIN, &org.id).await?;
    let mut writes = vec![Write::Delete {
        kind: ORGANISATION,
        id: &org.id,
        expected_version: Some(org.version),
    }];
    writes.extend(claims.iter().map(|c| Write::Delete {
        kind: PARTNER_ADMIN,
        id: &c.id,
        expected_version: Some(c.version),
    }));
    Ok(db.write_all(&writes, by).await?)
}

pub(crate) async fn insert_organisation(
    db: &PolicyDb,
    by: By<'_>,
    org: &Organisation,
) -> Result<(), RepoError> {
    db.insert(ORGANISATION, &org.id.0, &org.id.0, org, by)
        .await?;
    Ok(())
}

pub(crate) async fn insert_location(
    db: &PolicyDb,
    by: By<'_>,
    location: &Location,
) -> Result<(), RepoError> {
    db.insert(LOCATION, &location.id.0, &location.org.0, location, by)
        .await?;
    Ok(())
}

/// Stores a new user and claims its SIP addresses (all or none).
pub(crate) async fn insert_user(db: &PolicyDb, by: By<'_>, user: &User) -> Result<(), RepoError> {
    if db.get::<User>(USER, &user.id.0).await?.is_some() {
        return Err(RepoError::Db(DbError::Exists {
            kind: USER.into(),
            id: user.id.0.clone(),
        }));
    }
    let claimed = claim_aors(db, by, user, &user.aors).await?;
    if let Err(e) = db.insert(USER, &user.id.0, &user.org.0, user, by).await {
        release_aors(db, by, &user.id, &claimed).await?;
        return Err(e.into());
    }
    Ok(())
}

/// The documents a model operation started from, with the versions they were read at.
#[derive(Default)]
pub(crate) struct Read<'a> {
    pub organisation: Option<&'a Versioned<Organisation>>,
    pub location: Option<&'a Versioned<Location>>,
    pub user: Option<&'a Versioned<User>>,
}

/// Saves what a model operation changed, each document against the version it was read at.
pub(crate) async fn save(
    db: &PolicyDb,
    by: By<'_>,
    read: &Read<'_>,
    change: &policy::Change,
) -> Result<(), RepoError> {
    if let Some(org) = &change.organisation {
        let before = read
            .organisation
            .expect("operations change only documents they read");
        save_organisation(db, by, before, org).await?;
    }
    if let Some(location) = &change.location {
        let before = read
            .location
            .expect("operations change only documents they read");
        db.update(LOCATION, &location.id.0, before.version, location, by)
            .await?;
    }
    if let Some(user) = &change.user {
        let before = read
            .user
            .expect("operations change only documents they read");
        save_user(db, by, before, user).await?;
    }
    Ok(())
}

/// Saves `after` over `before` and keeps its SIP addresses' `aor` documents in step: new ones
/// are claimed first (a clash changes nothing), dropped ones released once the user is saved.
pub(crate) async fn save_user(
    db: &PolicyDb,
    by: By<'_>,
    before: &Versioned<User>,
    after: &User,
) -> Result<(), RepoError> {
    let old: BTreeSet<&String> = before.value.aors.iter().collect();
    let new: BTreeSet<&String> = after.aors.iter().collect();
    let added: Vec<String> = new.difference(&old).map(|a| a.to_string()).collect();
    let dropped: Vec<String> = old.difference(&new).map(|a| a.to_string()).collect();
    let claimed = claim_aors(db, by, after, &added).await?;
    if let Err(e) = db
        .update(USER, &after.id.0, before.version, after, by)
        .await
    {
        release_aors(db, by, &after.id, &claimed).await?;
        return Err(e.into());
    }
    release_aors(db, by, &after.id, &dropped).await
}

/// Removes a user and releases its SIP addresses (first, so no address ever names a user
/// that is gone while the user still holds it).
pub(crate) async fn delete_user(db: &PolicyDb, by: By<'_>, user: &User) -> Result<(), RepoError> {
    release_aors(db, by, &user.id, &user.aors).await?;
    db.delete(USER, &user.id.0, by).await?;
    Ok(())
}

pub(crate) async fn delete(
    db: &PolicyDb,
    by: By<'_>,
    kind: &str,
    id: &str,
) -> Result<(), RepoError> {
    db.delete(kind, id, by).await?;
    Ok(())
}

/// Claims each of `aors` for `user`, returning those newly claimed; on a clash releases them
/// again. An address already this user's is kept; one whose user no longer exists (left by an
/// interrupted delete) is taken over.
async fn claim_aors(
    db: &PolicyDb,
    by: By<'_>,
    user: &User,
    aors: &[String],
) -> Result<Vec<String>, RepoError> {
    let mine = AorDoc {
        user: user.id.clone(),
    };
    let mut claimed = Vec::new();
    for aor in aors {
        let result = claim_aor(db, by, user, &mine, aor).await;
        match result {
            Ok(true) => claimed.push(aor.clone()),
            Ok(false) => {}
            Err(e) => {
                release_aors(db, by, &user.id, &claimed).await?;
                return Err(e);
            }
        }
    }
    Ok(claimed)
}

/// Whether `aor` was newly claimed (`false`: it already was the user's).
async fn claim_aor(
    db: &PolicyDb,
    by: By<'_>,
    user: &User,
    mine: &AorDoc,
    aor: &str,
) -> Result<bool, RepoError> {
    match db.insert(AOR, aor, &user.org.0, mine, by).await {
        Ok(_) => return Ok(true),
        Err(DbError::Exists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let taken = || RepoError::AorTaken { aor: aor.into() };
    let holder = db.get::<AorDoc>(AOR, aor).await?.ok_or_else(taken)?;
    if holder.org_id == user.org.0 && holder.value == *mine {
        return Ok(false);
    }
    let orphan = db.get::<User>(USER, &holder.value.user.0).await?.is_none();
    if !orphan {
        return Err(taken());
    }
    // Documents keep their organisation for good: the orphan goes, and the address is claimed
    // afresh in this user's.
    db.delete(AOR, aor, by).await?;
    db.insert(AOR, aor, &user.org.0, mine, by)
        .await
        .map_err(|e| match e {
            DbError::Exists { .. } => taken(),
            e => e.into(),
        })?;
    Ok(true)
}

/// Deletes the `aor` documents among `aors` that name `user`.
async fn release_aors(
    db: &PolicyDb,
    by: By<'_>,
    user: &UserId,
    aors: &[String],
) -> Result<(), RepoError> {
    for aor in aors {
        let holder = db.get::<AorDoc>(AOR, aor).await?;
        if holder.is_some_and(|h| h.value.user == *user) {
            match db.delete(AOR, aor, by).await {
                Ok(()) | Err(DbError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_addresses_normalise_to_scheme_user_at_host() {
        let cases = [
            ("sip:alice@acme.example", "sip:alice@acme.example"),
            ("SIP:Alice@ACME.Example", "sip:Alice@acme.example"),
            (
                "<sip:alice@acme.example;transport=tcp>",
                "sip:alice@acme.example",
            ),
            (
                "\"Alice\" <sips:alice@Acme.example:5061;user=phone?subject=x>",
                "sip:alice@acme.example",
            ),
            ("tel:+1-555-1234", "tel:+15551234"),
            (
                "sip:+15551234@gw.example;user=phone",
                "sip:+15551234@gw.example",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise_aor(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in [
            "alice@acme.example",
            "tel:5551234",
            "sip:acme.example",
            "sip:@acme.example",
            "sip:alice@",
            "<sip:alice@acme.example",
            "sip:al ice@acme.example",
        ] {
            let err = normalise_aor(bad).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "sipAddresses: '{bad}' is not a SIP address (sip:user@host or a global tel:)"
                )
            );
        }
        let long = format!("sip:{}@x", "a".repeat(MAX_AOR));
        assert!(normalise_aor(&long)
            .unwrap_err()
            .starts_with("sipAddresses: must be 1-256 characters"));
    }
}
