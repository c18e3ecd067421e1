//! Which route goes to which handler, and what wraps them all: health, readiness, metrics and
//! the API's own description `/openapi.json` (open), `whoami` and, behind a bearer token, the recording policy of the caller's
//! organisations (the handlers are in `routes`, one file a resource). Must never handle a
//! policy request itself. Errors and their statuses are `state`'s.
//!
//! Every policy route acts on one organisation: `?orgId=`, or the token's only one. `R` = any
//! token of the organisation, `W` = not read-only, `P` = partner administrator.
//!
//! | Route | Methods |
//! |---|---|
//! | `/v1/organizations` | GET R (the token's), POST P (an org its token names) |
//! | `/v1/organizations/{orgId}` | GET R, PUT W (name, storage; service switch P), DELETE P (empty) |
//! | `/v1/locations`, `/v1/locations/{id}` | GET R, POST W; GET R, DELETE W (no people) |
//! | `/v1/people`, `/v1/people/{id}` | GET R, POST W; GET R, PUT W, DELETE W |
//! | `/v1/people/{id}/features/callRecording` | GET R, PUT W (enabling provisions) |
//! | `.../callRecording/entitlement` | GET R, PUT W (a Dubber user's: runs the retention migration) |
//! | `/v1/telephony/config/callRecording` | GET R, PUT W (`enabled`) |
//! | `.../callRecording/vendors`, `.../vendor` | GET R; PUT W (`vendorId`) |
//! | `.../vendors/{vendorId}/termsOfService` | GET R (with the disclosure), PUT W (accept) |
//! | `.../vendors/{vendorId}/account` | PUT W (Imagicle, CallCabinet) |
//! | `.../vendors/{vendorId}/users` | GET R (the sync listing) |
//! | `.../callRecording/effectivePolicy?aor=\|personId=` | GET R |
//! | `/v1/telephony/config/locations/{id}/callRecording/vendor` | GET R, PUT W |
//! | `.../callRecording/webhook` | GET R (URL, deliveries), PUT W (URL, secret shown once), DELETE W |
//! | `.../callRecording/webhook/events?status=&limit=` | GET R |
//! | `/v1/audit?since=&limit=` | GET R |
//! | `/v1/tokens`, `/v1/tokens/{tokenId}` | GET any token (those within its organisations), DELETE W (revoke; any token itself) |
//! | `/v1/convergedRecordings` | GET any token: its person's own recordings |
//! | `/v1/admin/convergedRecordings` | GET R: the organisation's recordings |
//! | `/v1/convergedRecordings/{id}` | GET (details, audio links), DELETE (`recording_access` decides) |
//! | `.../{id}/metadata`, `.../{id}/audio` | GET (the audio also by a signed link, no token) |
//! | `/portal`, `/portal/app.js`, `/portal/app.css` | GET, open: the recordings portal's page and assets (`portal`) |
//!
//! A `user` token (one person's) reaches only the recordings routes: every other route but
//! `whoami` answers it 403.
//!
//! A path no route serves is answered 404, a method a route does not serve 405 (with its
//! `Allow` header), both with a JSON message naming what was asked (never an empty body, which
//! `docs/openapi.json` does not promise).

use super::auth::Caller;
use super::portal;
use super::routes::{audit, directory, legal_holds, recording, recordings, token, vendor, webhook};
use super::state::AdminState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The whole admin API over `state`: every route, with the 403s it answers counted.
pub fn router(state: AdminState) -> Router {
    // Built once; its collector reads the counters at each scrape.
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Arc::clone(&state.metrics)));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics).with_state(Arc::new(registry)))
        .route("/openapi.json", get(openapi))
        .route("/v1/whoami", get(whoami))
        .merge(directory::routes())
        .merge(vendor::routes())
        .merge(recording::routes())
        .merge(recordings::routes())
        .merge(legal_holds::routes())
        .merge(audit::routes())
        .merge(token::routes())
        .merge(webhook::routes())
        .merge(portal::routes())
        .fallback(no_route)
        // After every route is in: it is set on the routes present when called.
        .method_not_allowed_fallback(no_method)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_forbidden,
        ))
        .with_state(state)
}

async fn count_forbidden(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::FORBIDDEN {
        state.metrics.forbidden.fetch_add(1, Ordering::Relaxed);
    }
    response
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready for calls: 503 while draining, so a load balancer stops sending any.
async fn readyz(State(state): State<AdminState>) -> Response {
    match state.metrics.live.get() {
        Some(live) if !live.ready() => {
            (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
        }
        _ => "ready\n".into_response(),
    }
}

/// `/metrics`: the registry as OpenMetrics text, with the content type the standard gives it
/// (Prometheus asks for it and reads it).
async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &registry) {
        // The collectors fail only when their writer does, and a String's never does.
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response();
    }
    let content_type =
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The OpenAPI 3.1 document of this API, the one tests/openapi.rs holds to the routes.
const OPENAPI: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"));

/// `/openapi.json`: what the API serves, for clients and their code generators (no token:
/// it says nothing about any organisation).
async fn openapi() -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], OPENAPI).into_response()
}

/// Any path no route serves: say which, and where the routes are listed.
async fn no_route(method: Method, uri: Uri) -> Response {
    let message = format!(
        "no such route: {method} {} (the routes are listed at /openapi.json)",
        uri.path()
    );
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// A method the route does not serve; axum adds the route's `Allow` header.
async fn no_method(method: Method, uri: Uri) -> Response {
    let message = format!(
        "{method} is not allowed on {} (the Allow header lists what is)",
        uri.path()
    );
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// The caller as the API sees it (for scripts checking their token).
async fn whoami(caller: Caller) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "role": caller.role.as_str(),
        "orgs": caller.orgs,
        "token": caller.token_id,
        "person": caller.person,
    }))
}

#[cfg(test)]
mod recording_links {
    //! A signed audio link through the whole router, on a clock the test moves.
    use super::router;
    use crate::config::Config;
    use crate::policydb::recordings::CatalogRecording;
    use crate::policydb::recordings::{CatalogFile, Direction};
    use crate::policydb::{NewToken, PolicyDb};
    use crate::server::admin::recording_link::LinkKey;
    use crate::server::admin::recording_link::LINK_LIFE_SECS;
    use crate::server::admin::state::AdminState;
    use crate::time::Time;
    use axum::body::Body;
    use axum::http::Request;
    use axum::http::{header, StatusCode};
    use serde_json::Value;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use tower::ServiceExt;

    /// The test's clock, in seconds: the server reads it through `AdminState::clock`.
    static NOW_SECS: AtomicU64 = AtomicU64::new(0);

    fn clock() -> Time {
        Time::from_nanos(NOW_SECS.load(Ordering::SeqCst) * 1_000_000_000)
    }

    /// A folder of the test's own (its policy store and its recordings), removed when dropped.
    struct Folder(std::path::PathBuf);

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn get(state: &AdminState, uri: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
        let mut request = Request::get(uri).header(header::HOST, "rec.example");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Body::empty()).expect("a request");
        let response = router(state.clone())
            .oneshot(request)
            .await
            .expect("answered");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, body.to_vec())
    }

    #[tokio::test]
    async fn a_link_plays_until_it_expires_on_the_servers_clock_then_says_when_it_did() {
        let dir = Folder(
            std::env::temp_dir().join(format!("callrec-recording-links-{}", std::process::id())),
        );
        let _ = std::fs::remove_dir_all(&dir.0);
        let media = dir.0.join("store/recordings/30d/acme/rec-1");
        std::fs::create_dir_all(&media).expect("folders");
        let audio: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        std::fs::write(media.join("rec-1.opus"), &audio).expect("media");
        let db = PolicyDb::open(&format!("sqlite://{}", dir.0.join("p.sqlite").display()))
            .await
            .expect("open");
        db.migrate().await.expect("migrate");
        NOW_SECS.store(1_795_000_000, Ordering::SeqCst);
        let token = db
            .create_token(&NewToken {
                person: "alice",
                role: "user",
                orgs: &["acme".to_string()],
                label: "",
                created_at: clock(),
                expires_at: clock() + std::time::Duration::from_secs(86_400),
            })
            .await
            .expect("a token");
        let start = Time::parse_rfc3339("2026-11-25T10:02:00Z").expect("time");
        let store = dir.0.join("store");
        db.put_recording(&CatalogRecording {
            id: "rec-1".into(),
            org_id: "acme".into(),
            person: Some("alice".into()),
            location: None,
            participants: vec![],
            direction: Direction::Unknown,
            kind: "call".into(),
            start,
            end: start,
            duration_ms: 0,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention: "30d".into(),
            expires_at: None,
            legal_hold: false,
            size_bytes: audio.len() as u64,
            sha256: String::new(),
            format: "opus".into(),
            destination: store.display().to_string(),
            prefix: "recordings/30d/acme/rec-1/".into(),
            files: vec![CatalogFile {
                name: "rec-1.opus".into(),
                key: "recordings/30d/acme/rec-1/rec-1.opus".into(),
                bytes: audio.len() as u64,
                sha256: String::new(),
                legs: "both".into(),
            }],
            metadata_key: "recordings/30d/acme/rec-1/rec-1.json".into(),
            ended: "bye".into(),
            stored_at: start,
        })
        .await
        .expect("catalogued");
        let state = AdminState {
            db,
            metrics: Default::default(),
            config: Arc::new(Config::default()),
            clock,
            throttle: Default::default(),
            links: Arc::new(LinkKey::random().expect("randomness")),
            key_files: Default::default(),
        };

        let (status, body) = get(&state, "/v1/convergedRecordings/rec-1", Some(&token)).await;
        assert_eq!(status, StatusCode::OK);
        let details: Value = serde_json::from_slice(&body).expect("json");
        let links = &details["temporaryDirectDownloadLinks"];
        assert_eq!(links["expiration"], "2026-11-18T11:21:40.000Z");
        let play = links["audioPlaybackLink"].as_str().expect("a link");
        let play = play
            .strip_prefix("http://rec.example")
            .unwrap_or_else(|| panic!("{play}"));

        // Valid to the last second of its 15 minutes, refused from then on.
        NOW_SECS.store(1_795_000_000 + LINK_LIFE_SECS - 1, Ordering::SeqCst);
        assert_eq!(get(&state, play, None).await, (StatusCode::OK, audio));
        NOW_SECS.store(1_795_000_000 + LINK_LIFE_SECS, Ordering::SeqCst);
        let (status, body) = get(&state, play, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let refusal: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            refusal["message"],
            "this link expired at 2026-11-18T11:21:40.000Z"
        );
    }
}
