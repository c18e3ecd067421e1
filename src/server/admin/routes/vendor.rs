//! An organisation's recording vendor, its providers' terms of service and accounts, each
//! location's override, and the listing the providers' sync tools read, under
//! `/v1/telephony/config/`. Owns their JSON shapes; must never decide policy (the model's
//! operations do, and their refusals become the errors).
//!
//! Vendors are named by id in JSON: `dubber`, `imagicle`, `callcabinet`, and `none` (recording
//! off). Turning recording off for the organisation (vendor `none`, or `enabled: false`) needs
//! `confirmDisableForAllUsers: true`. Turning it on again (`enabled: true`) chooses Dubber,
//! the default vendor.

use crate::config::ProvidersConfig;
use crate::policy::account::sync_listing;
use crate::policy::location::Location;
use crate::policy::model::{LocationProvider, ProviderChoice};
use crate::policy::organisation::Organisation;
use crate::policy::plan::Provider;
use crate::policy::terms::disclosure;
use crate::server::admin::extract::{Body, Reading, Writing};
use crate::server::admin::fields::{
    location_vendor, parse_provider, parse_vendor, vendor_id, vendor_name,
};
use crate::server::admin::load::{
    load_location, load_org, modify, modify_with, Documents, Reads, Saved,
};
use crate::server::admin::repo;
use crate::server::admin::state::{bad_request, AdminState, ApiError};
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

const BASE: &str = "/v1/telephony/config/callRecording";

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route(BASE, get(get_recording).put(put_recording))
        .route(&format!("{BASE}/vendors"), get(get_vendors))
        .route(&format!("{BASE}/vendor"), put(put_vendor))
        .route(
            &format!("{BASE}/vendors/{{vendorId}}/termsOfService"),
            get(get_terms).put(put_terms),
        )
        .route(
            &format!("{BASE}/vendors/{{vendorId}}/account"),
            put(put_account),
        )
        .route(
            &format!("{BASE}/vendors/{{vendorId}}/users"),
            get(get_users),
        )
        .route(
            "/v1/telephony/config/locations/{locationId}/callRecording/vendor",
            get(get_location_vendor).put(put_location_vendor),
        )
}

/// What the platform's portal says about each provider; its pages are the configuration's.
fn vendor_info(provider: Provider, providers: &ProvidersConfig) -> Value {
    let description = match provider {
        Provider::Dubber => {
            "Dubber Go comes free with every calling licence (each recording kept 30 days, \
             reached by the user only); Dubber Standard and Dubber AI keep recordings without \
             limit, with administrator access. Users are provisioned automatically."
        }
        Provider::Imagicle => {
            "Imagicle keeps recordings without limit, in its cloud or the customer's own \
             storage. Users are provisioned by Imagicle's sync tools."
        }
        Provider::CallCabinet => {
            "CallCabinet keeps recordings without limit, in its cloud or the customer's own \
             storage. Users are provisioned by CallCabinet's sync tools."
        }
    };
    json!({
        "id": provider.as_str(),
        "name": provider.name(),
        "description": description,
        "migrateUserCreationEnabled": provider == Provider::Dubber,
        "loginUrl": providers.login_url(provider),
        "termsOfServiceUrl": providers.terms_url(provider),
        "regions": provider.regions(),
    })
}

fn recording_view(org: &Organisation, providers: &ProvidersConfig) -> Value {
    json!({
        "organization": { "id": org.id, "name": org.name },
        "enabled": org.provider != ProviderChoice::None,
        "callRecordingServiceEnabled": org.service_enabled,
        "vendorId": vendor_id(org.provider),
        "vendorName": vendor_name(org.provider),
        "termsOfServiceUrl": org.provider.provider().map(|p| providers.terms_url(p)),
    })
}

async fn get_recording(
    State(state): State<AdminState>,
    scope: Reading,
) -> Result<Json<Value>, ApiError> {
    let org = load_org(&state, &scope.org).await?.value;
    Ok(Json(recording_view(&org, &state.config.providers)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecordingUpdate {
    enabled: bool,
    #[serde(default)]
    confirm_disable_for_all_users: bool,
}

async fn put_recording(
    State(state): State<AdminState>,
    scope: Writing,
    Body(body): Body<RecordingUpdate>,
) -> Result<Json<Value>, ApiError> {
    let choose = |current| match (body.enabled, current) {
        (false, _) => ProviderChoice::None,
        (true, ProviderChoice::None) => ProviderChoice::default(),
        (true, chosen) => chosen,
    };
    let saved = select(&state, &scope, choose, body.confirm_disable_for_all_users).await?;
    Ok(Json(recording_view(
        saved.organisation(),
        &state.config.providers,
    )))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VendorChoice {
    vendor_id: String,
    #[serde(default)]
    confirm_disable_for_all_users: bool,
}

async fn put_vendor(
    State(state): State<AdminState>,
    scope: Writing,
    Body(body): Body<VendorChoice>,
) -> Result<Json<Value>, ApiError> {
    let choice = parse_vendor("vendorId", &body.vendor_id)?;
    let saved = select(
        &state,
        &scope,
        |_| choice,
        body.confirm_disable_for_all_users,
    )
    .await?;
    Ok(Json(recording_view(
        saved.organisation(),
        &state.config.providers,
    )))
}

/// Chooses the organisation's vendor (`choose` maps the current one to the new one).
async fn select(
    state: &AdminState,
    scope: &Writing,
    choose: impl Fn(ProviderChoice) -> ProviderChoice,
    confirm_off: bool,
) -> Result<Saved, ApiError> {
    let locations = || async { Ok(repo::locations(&state.db, &scope.org).await?) };
    let select = |read: &Documents, locations: Vec<Location>, _| {
        let org = read.organisation();
        org.select_provider(&locations, choose(org.provider), confirm_off)
            .map_err(|e| state.refused(e))
    };
    modify_with(state, scope, Reads::Organisation, locations, select).await
}

async fn get_vendors(
    State(state): State<AdminState>,
    scope: Reading,
) -> Result<Json<Value>, ApiError> {
    let org = load_org(&state, &scope.org).await?.value;
    let vendors: Vec<Value> = Provider::ALL
        .into_iter()
        .map(|p| {
            let mut info = vendor_info(p, &state.config.providers);
            info["servesRegion"] = p.serves(org.region).into();
            info["termsOfServiceEnabled"] = org.terms_for(p).is_some().into();
            info
        })
        .collect();
    Ok(Json(json!({
        "vendorId": vendor_id(org.provider),
        "vendorName": vendor_name(org.provider),
        "vendors": vendors,
        "storageRegion": org.region,
    })))
}

/// A provider's terms for the organisation: accepted or not (by whom, when), and exactly what
/// the provider receives.
async fn terms_view(
    state: &AdminState,
    org: &Organisation,
    provider: Provider,
) -> Result<Value, ApiError> {
    let locations = repo::locations(&state.db, &org.id.0).await?;
    let users = repo::users(&state.db, &org.id.0).await?;
    let shown = disclosure(org, provider, &locations, &users);
    let accepted = json!(org.terms_for(provider));
    Ok(json!({
        "vendorId": provider.as_str(),
        "vendorName": provider.name(),
        "termsOfServiceEnabled": !accepted.is_null(),
        "termsOfServiceUrl": state.config.providers.terms_url(provider),
        "acceptedBy": accepted["acceptedBy"],
        "acceptedAt": accepted["acceptedAt"],
        "disclosure": {
            "customerName": shown.customer_name,
            "users": shown.users,
        },
    }))
}

async fn get_terms(
    State(state): State<AdminState>,
    scope: Reading,
    Path(vendor): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = parse_provider("vendorId", &vendor)?;
    let org = load_org(&state, &scope.org).await?.value;
    Ok(Json(terms_view(&state, &org, provider).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TermsUpdate {
    terms_of_service_enabled: bool,
}

async fn put_terms(
    State(state): State<AdminState>,
    scope: Writing,
    Path(vendor): Path<String>,
    Body(body): Body<TermsUpdate>,
) -> Result<Json<Value>, ApiError> {
    let provider = parse_provider("vendorId", &vendor)?;
    if !body.terms_of_service_enabled {
        return Err(bad_request(
            "termsOfServiceEnabled: an acceptance cannot be withdrawn (only true is accepted); \
             choose another vendor instead",
        ));
    }
    let admin = &scope.caller.admin();
    let saved = modify(
        &state,
        &scope,
        Reads::Organisation,
        |read: &Documents, now| Ok(read.organisation().accept_terms(provider, admin, now)),
    )
    .await?;
    Ok(Json(
        terms_view(&state, saved.organisation(), provider).await?,
    ))
}

/// The account the customer holds with Imagicle or CallCabinet.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountBody {
    account_id: String,
}

async fn put_account(
    State(state): State<AdminState>,
    scope: Writing,
    Path(vendor): Path<String>,
    Body(body): Body<AccountBody>,
) -> Result<Json<Value>, ApiError> {
    let provider = parse_provider("vendorId", &vendor)?;
    let admin = &scope.caller.admin();
    let saved = modify(
        &state,
        &scope,
        Reads::Organisation,
        |read: &Documents, now| {
            read.organisation()
                .register_account(provider, &body.account_id, admin, now)
                .map_err(|e| state.refused(e))
        },
    )
    .await?;
    Ok(Json(json!(saved.organisation().account(provider))))
}

/// What Imagicle's or CallCabinet's sync tools provision: enabled, provisioned users at
/// locations that record with them.
async fn get_users(
    State(state): State<AdminState>,
    scope: Reading,
    Path(vendor): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = parse_provider("vendorId", &vendor)?;
    if provider == Provider::Dubber {
        return Err(bad_request(
            "vendorId: Dubber users are provisioned automatically; sync listings are for \
             imagicle and callcabinet",
        ));
    }
    let org = load_org(&state, &scope.org).await?.value;
    let locations = repo::locations(&state.db, &scope.org).await?;
    let users = repo::users(&state.db, &scope.org).await?;
    Ok(Json(json!({
        "vendorId": provider.as_str(),
        "users": sync_listing(&org, provider, &locations, &users),
    })))
}

fn location_vendor_view(location: &Location, org: &Organisation) -> Value {
    let own = location.provider.choice();
    let effective = location.choice_in(org);
    json!({
        "locationId": location.id,
        "orgDefaultEnabled": own.is_none(),
        "id": own.map(vendor_id),
        "name": own.map(vendor_name),
        "orgDefaultVendorId": vendor_id(org.provider),
        "orgDefaultVendorName": vendor_name(org.provider),
        "vendorId": vendor_id(effective),
        "vendorName": vendor_name(effective),
        "region": location.region_in(org),
    })
}

async fn get_location_vendor(
    State(state): State<AdminState>,
    scope: Reading,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org = load_org(&state, &scope.org).await?.value;
    let location = load_location(&state, &scope.org, &id).await?.value;
    Ok(Json(location_vendor_view(&location, &org)))
}

/// `{"orgDefaultEnabled": true}` follows the organisation; `{"orgDefaultEnabled": false,
/// "id": "imagicle"}` chooses a vendor (or `none`) for the location.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocationVendorUpdate {
    org_default_enabled: bool,
    id: Option<String>,
}

impl LocationVendorUpdate {
    fn setting(&self) -> Result<LocationProvider, ApiError> {
        match (self.org_default_enabled, self.id.as_deref()) {
            (true, None) => Ok(LocationProvider::OrganisationDefault),
            (true, Some(_)) => Err(bad_request(
                "id: must be left out when orgDefaultEnabled is true",
            )),
            (false, None) => Err(bad_request(
                "id: required when orgDefaultEnabled is false (one of dubber, imagicle, \
                 callcabinet, none)",
            )),
            (false, Some(id)) => location_vendor("id", Some(id)),
        }
    }
}

async fn put_location_vendor(
    State(state): State<AdminState>,
    scope: Writing,
    Path(id): Path<String>,
    Body(body): Body<LocationVendorUpdate>,
) -> Result<Json<Value>, ApiError> {
    let setting = body.setting()?;
    let saved = modify(
        &state,
        &scope,
        Reads::Location(&id),
        |read: &Documents, _| {
            read.location()
                .set_provider(read.organisation(), setting)
                .map_err(|e| state.refused(e))
        },
    )
    .await?;
    Ok(Json(location_vendor_view(
        saved.location(),
        saved.organisation(),
    )))
}
