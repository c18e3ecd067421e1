//! Organisations, locations and people (users): created, listed, read, changed, deleted. Owns
//! their JSON shapes and the rules of who may create or delete an organisation; must never
//! decide recording policy (the model does, through the other routes).
//!
//! An organisation is created and deleted only by a partner administrator, and only for an
//! organisation its token names (customer organisations are otherwise provisioned for their
//! administrators). Deleting is refused while locations or people remain; a location is not
//! deleted while people are at it. A person's location is fixed (delete and re-create them to
//! move them); their SIP addresses change with a PUT.

use crate::policy::location::Location;
use crate::policy::model::{LocationId, OrgId, UserId};
use crate::policy::organisation::{CustomerStorage, Organisation};
use crate::policy::region::Region;
use crate::policy::user::{Licence, Person, User};
use crate::policy::Change;
use crate::policydb::Versioned;
use crate::server::admin::auth::{Caller, Role};
use crate::server::admin::extract::{
    check_read, check_write, check_writer, page_size, Body, Params, PolicyCaller, RawBody, Reading,
    Writing,
};
use crate::server::admin::fields::{
    check_id, check_text, location_vendor, vendor_id, vendor_name, MAX_TEXT,
};
use crate::server::admin::load::{
    load_location, load_org, load_user, modify, retrying, Documents, Reads,
};
use crate::server::admin::repo::{self, LOCATION, USER};
use crate::server::admin::state::{bad_request, forbidden, AdminState, ApiError};
use crate::store::{probe, sealed, Destination, OwnCredentials};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// Most SIP addresses one person has.
pub(crate) const MAX_SIP_ADDRESSES: usize = 16;

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/v1/organizations", get(list_orgs).post(create_org))
        .route(
            "/v1/organizations/{orgId}",
            get(get_org).put(put_org).delete(delete_org),
        )
        .route("/v1/locations", get(list_locations).post(create_location))
        .route(
            "/v1/locations/{locationId}",
            get(get_location).delete(delete_location),
        )
        .route("/v1/people", get(list_people).post(create_person))
        .route(
            "/v1/people/{personId}",
            get(get_person).put(put_person).delete(delete_person),
        )
}

// --- Organisations ---

pub(crate) fn org_view(org: &Organisation) -> Value {
    json!({
        "id": org.id,
        "displayName": org.name,
        "region": org.region,
        "callRecordingServiceEnabled": org.service_enabled,
        "customerStorage": org.customer_storage.as_ref().map(storage_view),
        "pciDtmfSuppression": org.pci_dtmf_suppression,
        "vendorId": vendor_id(org.provider),
        "vendorName": vendor_name(org.provider),
        "termsOfService": org.terms,
        "accounts": org.accounts,
    })
}

/// Customer storage as the API shows it: a registered destination's name, or the customer's
/// URL and settings and whether credentials are set (never the credentials).
fn storage_view(storage: &CustomerStorage) -> Value {
    match storage {
        CustomerStorage::Registered { destination } => json!({ "destination": destination }),
        CustomerStorage::Own {
            url,
            sealed_credentials,
            options,
        } => {
            let mut view = json!({ "url": url, "credentialsSet": sealed_credentials.is_some() });
            if let Some(region) = options.get("aws_region") {
                view["region"] = json!(region);
            }
            if let Some(endpoint) = options.get("aws_endpoint") {
                view["endpoint"] = json!(endpoint);
            }
            view
        }
    }
}

async fn list_orgs(
    State(state): State<AdminState>,
    PolicyCaller(caller): PolicyCaller,
) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    let mut orgs = caller.orgs.clone();
    orgs.sort();
    for org in &orgs {
        if let Some(found) = repo::organisation(&state.db, org).await? {
            items.push(org_view(&found.value));
        }
    }
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewOrg {
    id: String,
    display_name: String,
    region: String,
}

fn only_partner(caller: &Caller, what: &str) -> Result<(), ApiError> {
    if caller.role == Role::PartnerAdmin {
        Ok(())
    } else {
        Err(forbidden(format!(
            "only a partner administrator {what} organisations"
        )))
    }
}

/// Who may create an organisation is decided before the body is read (only then, whether the
/// token names the organisation).
async fn create_org(
    State(state): State<AdminState>,
    PolicyCaller(caller): PolicyCaller,
    body: RawBody,
) -> Result<Response, ApiError> {
    check_writer(&caller)?;
    only_partner(&caller, "creates")?;
    let body: NewOrg = body.json()?;
    check_write(&caller, &body.id)?;
    check_id("id", &body.id)?;
    check_text("displayName", &body.display_name)?;
    let region: Region = body
        .region
        .parse()
        .map_err(|e| bad_request(format!("region: {e}")))?;
    let org = Organisation::new(OrgId(body.id), &body.display_name, region);
    let actor = caller.actor();
    repo::insert_organisation(&state.db, state.by(&actor), &org).await?;
    Ok((StatusCode::CREATED, Json(org_view(&org))).into_response())
}

async fn get_org(
    State(state): State<AdminState>,
    PolicyCaller(caller): PolicyCaller,
    Path(org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_read(&caller, &org)?;
    Ok(Json(org_view(&load_org(&state, &org).await?.value)))
}

/// Changes what is given: the name, the partner's service switch, customer-owned storage
/// (`null` clears it), PCI handling. The region is fixed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OrgUpdate {
    display_name: Option<String>,
    call_recording_service_enabled: Option<bool>,
    pci_dtmf_suppression: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    customer_storage: Option<Option<StorageChoice>>,
}

/// A field that may be given as `null`: `Some(None)`, unlike a field left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<StorageChoice>>, D::Error> {
    Option::<StorageChoice>::deserialize(d).map(Some)
}

/// What a customer administrator asks for: a destination the operator registered, by name, or
/// its own S3 bucket with its own credentials. A bare URL is refused: the server's own
/// credentials are never used for a URL a customer gives.
#[derive(Deserialize)]
#[serde(untagged)]
enum StorageChoice {
    Registered(Registered),
    Own(OwnBucket),
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registered {
    destination: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OwnBucket {
    url: String,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
}

const STORAGE_SHAPES: &str = "customerStorage: give {\"destination\": NAME} (a destination the \
     operator registered) or {\"url\": \"s3://bucket/prefix\", \"accessKeyId\", \
     \"secretAccessKey\"[, \"sessionToken\", \"region\", \"endpoint\"]} (your own bucket with \
     its own credentials), or null";

/// The storage `choice` makes for organisation `org`, once its destination took a probe
/// object (written, read back, deleted). Supplied credentials come back sealed.
async fn checked_storage(
    state: &AdminState,
    org: &str,
    choice: &StorageChoice,
) -> Result<CustomerStorage, ApiError> {
    let config = &state.config;
    let (storage, dest) = match choice {
        StorageChoice::Other(_) => return Err(bad_request(STORAGE_SHAPES)),
        StorageChoice::Registered(Registered { destination }) => {
            let Some(target) = config.registered_destination(destination) else {
                let names: Vec<&str> = config
                    .store
                    .destinations
                    .keys()
                    .map(String::as_str)
                    .collect();
                return Err(bad_request(format!(
                    "customerStorage.destination: '{destination}' is not a destination the \
                     operator registered ({})",
                    if names.is_empty() {
                        "none are".to_string()
                    } else {
                        format!("one of: {}", names.join(", "))
                    }
                )));
            };
            let options: Vec<(String, String)> = target.options.clone().into_iter().collect();
            let dest = Destination::open(&target.url, &options)
                .map_err(|e| bad_request(format!("customerStorage.destination: {e}")))?;
            let storage = CustomerStorage::Registered {
                destination: destination.clone(),
            };
            (storage, dest)
        }
        StorageChoice::Own(own) => {
            let field = |name: &str, value: &Option<String>| {
                value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                    bad_request(format!(
                        "customerStorage.{name}: required with a url (the server's own \
                         credentials are never used for a URL you give)"
                    ))
                })
            };
            let credentials = OwnCredentials {
                access_key_id: field("accessKeyId", &own.access_key_id)?,
                secret_access_key: field("secretAccessKey", &own.secret_access_key)?,
                session_token: own.session_token.clone().filter(|t| !t.is_empty()),
            };
            // The model's rules on the URL first (remote, a bucket, no userinfo).
            CustomerStorage::url_only(&own.url)
                .check()
                .map_err(|e| state.refused(e))?;
            if !own.url.starts_with("s3://") {
                return Err(bad_request(format!(
                    "customerStorage.url: '{}' is not an s3:// URL: only S3 buckets take \
                     supplied credentials (ask the operator to register other destinations)",
                    own.url
                )));
            }
            let mut options = std::collections::BTreeMap::new();
            if let Some(region) = &own.region {
                check_text("customerStorage.region", region)?;
                options.insert("aws_region".to_string(), region.clone());
            }
            if let Some(endpoint) = &own.endpoint {
                let endpoint = endpoint.trim_end_matches('/');
                let allowed = &config.store.customer_endpoints;
                if !allowed.iter().any(|a| a.trim_end_matches('/') == endpoint) {
                    return Err(bad_request(format!(
                        "customerStorage.endpoint: '{endpoint}' is not an endpoint the operator \
                         allows ({})",
                        if allowed.is_empty() {
                            "none: AWS by region only".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    )));
                }
                options.insert("aws_endpoint".to_string(), endpoint.to_string());
                if endpoint.starts_with("http://") {
                    options.insert("aws_allow_http".to_string(), "true".to_string());
                }
            }
            let key = config
                .secrets_key()
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::CONFLICT,
                        "customerStorage: supplied credentials are not accepted here (the \
                         operator set no secrets key to keep them sealed): pick a registered \
                         destination",
                    )
                })?;
            let listed: Vec<(String, String)> = options.clone().into_iter().collect();
            let dest = Destination::open_own(&own.url, &credentials, &listed)
                .map_err(|e| bad_request(format!("customerStorage: {e}")))?;
            let plain = serde_json::to_vec(&credentials).expect("credentials serialise");
            let sealed = key
                .seal(&plain, &sealed::storage_owner(org, &own.url))
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            let storage = CustomerStorage::Own {
                url: own.url.clone(),
                sealed_credentials: Some(sealed),
                options,
            };
            (storage, dest)
        }
    };
    probe::probe(&dest).await.map_err(|e| {
        bad_request(format!(
            "customerStorage: the destination did not take a probe object: {e}; nothing was saved"
        ))
    })?;
    Ok(storage)
}

async fn put_org(
    State(state): State<AdminState>,
    PolicyCaller(caller): PolicyCaller,
    Path(org_id): Path<String>,
    body: RawBody,
) -> Result<Json<Value>, ApiError> {
    check_write(&caller, &org_id)?;
    let body: OrgUpdate = body.json()?;
    if let Some(name) = &body.display_name {
        check_text("displayName", name)?;
    }
    let storage = match &body.customer_storage {
        Some(Some(choice)) => Some(Some(checked_storage(&state, &org_id, choice).await?)),
        Some(None) => Some(None),
        None => None,
    };
    let admin = &caller.admin();
    let scope = Writing {
        caller,
        org: org_id,
    };
    let update = |read: &Documents, _| {
        let org = read.organisation();
        let mut after = org.clone();
        if let Some(name) = &body.display_name {
            // The model has no rename: a name is no rule's business.
            after.name = name.clone();
        }
        if let Some(enabled) = body.call_recording_service_enabled {
            let change = after
                .set_service(enabled, admin)
                .map_err(|e| state.refused(e))?;
            after = change.organisation.unwrap_or(after);
        }
        if let Some(on) = body.pci_dtmf_suppression {
            let change = after.set_pci_dtmf_suppression(on);
            after = change.organisation.unwrap_or(after);
        }
        if let Some(storage) = &storage {
            let change = after
                .set_customer_storage(storage.clone())
                .map_err(|e| state.refused(e))?;
            after = change.organisation.unwrap_or(after);
        }
        Ok(Change {
            organisation: (after != *org).then_some(after),
            ..Change::default()
        })
    };
    let saved = modify(&state, &scope, Reads::Organisation, update).await?;
    Ok(Json(org_view(saved.organisation())))
}

async fn delete_org(
    State(state): State<AdminState>,
    PolicyCaller(caller): PolicyCaller,
    Path(org): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_write(&caller, &org)?;
    only_partner(&caller, "deletes")?;
    let actor = &caller.actor();
    let (state, org) = (&state, &org);
    retrying(|| async move {
        let found = load_org(state, org).await?;
        let locations = repo::page::<Location>(&state.db, LOCATION, org, None, 1).await?;
        let users = repo::page::<User>(&state.db, USER, org, None, 1).await?;
        if !locations.is_empty() || !users.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("organisation {org} still has locations or people: delete them first"),
            ));
        }
        repo::delete_organisation(&state.db, state.by(actor), &found).await?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- Listings ---

#[derive(Deserialize)]
struct PageParams {
    after: Option<String>,
    max: Option<usize>,
}

impl PageParams {
    fn max(&self) -> Result<usize, ApiError> {
        page_size("max", self.max)
    }
}

// --- Locations ---

pub(crate) fn location_view(location: &Location, org: &Organisation) -> Value {
    json!({
        "id": location.id,
        "orgId": location.org,
        "name": location.name,
        "region": location.region_in(org),
    })
}

async fn list_locations(
    State(state): State<AdminState>,
    scope: Reading,
    Params(params): Params<PageParams>,
) -> Result<Json<Value>, ApiError> {
    let org = load_org(&state, &scope.org).await?.value;
    let page: Vec<Versioned<Location>> = repo::page(
        &state.db,
        LOCATION,
        &scope.org,
        params.after.as_deref(),
        params.max()?,
    )
    .await?;
    let items: Vec<Value> = page.iter().map(|l| location_view(&l.value, &org)).collect();
    Ok(Json(json!({ "items": items })))
}

/// A new location; its vendor is the organisation's unless `vendorId` says otherwise (needed
/// when the organisation's vendor does not serve the location's region).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewLocation {
    id: String,
    name: String,
    region: Option<String>,
    vendor_id: Option<String>,
}

async fn create_location(
    State(state): State<AdminState>,
    scope: Writing,
    Body(body): Body<NewLocation>,
) -> Result<Response, ApiError> {
    check_id("id", &body.id)?;
    check_text("name", &body.name)?;
    let region = body
        .region
        .as_deref()
        .map(str::parse::<Region>)
        .transpose()
        .map_err(|e| bad_request(format!("region: {e}")))?;
    let vendor = location_vendor("vendorId", body.vendor_id.as_deref())?;
    let org = load_org(&state, &scope.org).await?.value;
    let change = org
        .create_location(LocationId(body.id), &body.name, region, vendor)
        .map_err(|e| state.refused(e))?;
    let location = change
        .location
        .expect("creating a location returns the location");
    let actor = scope.caller.actor();
    repo::insert_location(&state.db, state.by(&actor), &location).await?;
    Ok((StatusCode::CREATED, Json(location_view(&location, &org))).into_response())
}

async fn get_location(
    State(state): State<AdminState>,
    scope: Reading,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = load_org(&state, &scope.org).await?.value;
    let location = load_location(&state, &scope.org, &id).await?.value;
    Ok(Json(location_view(&location, &org)))
}

async fn delete_location(
    State(state): State<AdminState>,
    scope: Writing,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    load_location(&state, &scope.org, &id).await?;
    let users = repo::users(&state.db, &scope.org).await?;
    let at: Vec<&str> = users
        .iter()
        .filter(|u| u.location.0 == id)
        .map(|u| u.id.0.as_str())
        .take(10)
        .collect();
    if !at.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "location {id} still has people ({}): delete them first",
                at.join(", ")
            ),
        ));
    }
    let actor = scope.caller.actor();
    repo::delete(&state.db, state.by(&actor), LOCATION, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- People ---

pub(crate) fn person_view(user: &User) -> Value {
    json!({
        "id": user.id,
        "orgId": user.org,
        "locationId": user.location,
        "firstName": user.person.first_name,
        "lastName": user.person.last_name,
        "email": user.person.email,
        "timeZone": user.person.time_zone,
        "callingLicense": user.licence,
        "sipAddresses": user.aors,
    })
}

async fn list_people(
    State(state): State<AdminState>,
    scope: Reading,
    Params(params): Params<PageParams>,
) -> Result<Json<Value>, ApiError> {
    load_org(&state, &scope.org).await?;
    let page: Vec<Versioned<User>> = repo::page(
        &state.db,
        USER,
        &scope.org,
        params.after.as_deref(),
        params.max()?,
    )
    .await?;
    let items: Vec<Value> = page.iter().map(|u| person_view(&u.value)).collect();
    Ok(Json(json!({ "items": items })))
}

/// A person as POST creates them (with `id`) and PUT replaces them (`id`, if given, must be
/// theirs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PersonBody {
    id: Option<String>,
    location_id: String,
    first_name: String,
    last_name: String,
    email: String,
    time_zone: String,
    calling_license: String,
    #[serde(default)]
    sip_addresses: Vec<String>,
}

const LICENCES: [Licence; 3] = [Licence::Professional, Licence::Basic, Licence::Other];

impl PersonBody {
    /// The validated person, licence and normalised SIP addresses (duplicates dropped).
    fn parts(&self) -> Result<(Person, Licence, Vec<String>), ApiError> {
        check_text("firstName", &self.first_name)?;
        check_text("lastName", &self.last_name)?;
        check_text("email", &self.email)?;
        if !self.email.contains('@') {
            return Err(bad_request(format!(
                "email: '{}' is not an email address",
                self.email
            )));
        }
        check_time_zone(&self.time_zone)?;
        let licence = LICENCES
            .into_iter()
            .find(|l| l.to_string() == self.calling_license)
            .ok_or_else(|| {
                bad_request(format!(
                    "callingLicense: '{}' is not one of Professional, Basic, Other",
                    self.calling_license
                ))
            })?;
        if self.sip_addresses.len() > MAX_SIP_ADDRESSES {
            return Err(bad_request(format!(
                "sipAddresses: at most {MAX_SIP_ADDRESSES}, not {}",
                self.sip_addresses.len()
            )));
        }
        let mut aors = Vec::new();
        for aor in &self.sip_addresses {
            let aor = repo::normalise_aor(aor).map_err(bad_request)?;
            if !aors.contains(&aor) {
                aors.push(aor);
            }
        }
        let person = Person {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            time_zone: self.time_zone.clone(),
        };
        Ok((person, licence, aors))
    }
}

/// An IANA time zone name's shape (`Europe/Paris`, `UTC`); the names themselves are the
/// platform's to know.
fn check_time_zone(tz: &str) -> Result<(), ApiError> {
    let fine = |c: char| c.is_ascii_alphanumeric() || "/_+-".contains(c);
    if tz.is_empty() || tz.len() > MAX_TEXT || !tz.chars().all(fine) {
        return Err(bad_request(format!(
            "timeZone: '{tz}' is not an IANA time zone name (e.g. Europe/Paris)"
        )));
    }
    Ok(())
}

async fn create_person(
    State(state): State<AdminState>,
    scope: Writing,
    Body(body): Body<PersonBody>,
) -> Result<Response, ApiError> {
    let id = body.id.clone().ok_or_else(|| bad_request("id: required"))?;
    check_id("id", &id)?;
    let (person, licence, aors) = body.parts()?;
    load_org(&state, &scope.org).await?;
    let location = repo::location(&state.db, &scope.org, &body.location_id)
        .await?
        .ok_or_else(|| {
            bad_request(format!(
                "locationId: no location '{}' in organisation {}",
                body.location_id, scope.org
            ))
        })?;
    let mut user = User::new(
        UserId(id),
        OrgId(scope.org.clone()),
        location.value.id,
        person,
        licence,
    );
    user.aors = aors;
    let actor = scope.caller.actor();
    repo::insert_user(&state.db, state.by(&actor), &user).await?;
    Ok((StatusCode::CREATED, Json(person_view(&user))).into_response())
}

async fn get_person(
    State(state): State<AdminState>,
    scope: Reading,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(person_view(
        &load_user(&state, &scope.org, &id).await?.value,
    )))
}

async fn put_person(
    State(state): State<AdminState>,
    scope: Writing,
    Path(id): Path<String>,
    Body(body): Body<PersonBody>,
) -> Result<Json<Value>, ApiError> {
    if body.id.as_ref().is_some_and(|given| *given != id) {
        return Err(bad_request(format!(
            "id: a person's id is fixed ({id}, not '{}')",
            body.id.as_deref().unwrap_or_default()
        )));
    }
    let (person, licence, aors) = body.parts()?;
    let saved = modify(&state, &scope, Reads::Person(&id), |read: &Documents, _| {
        let user = read.user();
        if user.location.0 != body.location_id {
            return Err(bad_request(format!(
                "locationId: a person's location is fixed ({}, not '{}'): delete and re-create \
                 them to move them",
                user.location, body.location_id
            )));
        }
        let after = User {
            person: person.clone(),
            licence,
            aors: aors.clone(),
            ..user.clone()
        };
        Ok(Change {
            user: Some(after),
            ..Change::default()
        })
    })
    .await?;
    Ok(Json(person_view(saved.user())))
}

async fn delete_person(
    State(state): State<AdminState>,
    scope: Writing,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = load_user(&state, &scope.org, &id).await?;
    let actor = scope.caller.actor();
    repo::delete_user(&state.db, state.by(&actor), &user.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_names_are_the_models() {
        let names: Vec<String> = LICENCES.iter().map(Licence::to_string).collect();
        assert_eq!(names, ["Professional", "Basic", "Other"]);
        for licence in LICENCES {
            let json = serde_json::to_value(licence).expect("json");
            assert_eq!(json, licence.to_string());
        }
    }
}
