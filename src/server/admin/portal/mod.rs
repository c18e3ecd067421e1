//! The recordings portal: one HTML page, its stylesheet and its script, shipped in the binary
//! (no build step, nothing fetched from elsewhere) and served without a token, since they hold
//! nothing of anyone's. Everything a person sees comes from the recordings API the page calls
//! with the token they type in; this module must never read a recording or a policy document.
//!
//! The page is served under a Content-Security-Policy that allows only this server's own
//! script, style, fetches and media (no inline script, no other origin), so a recording's
//! participant names, which come from the calling platform, can never run as code.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The page: the sign-in form, the filters, the list and the player.
const PAGE: &str = include_str!("index.html");
/// Its script: sign-in, the API calls and the list's rendering.
const SCRIPT: &str = include_str!("app.js");
/// Its stylesheet: a table on wide screens, cards on a phone's.
const STYLE: &str = include_str!("app.css");

/// Where the portal's page is; its assets are below it.
const PORTAL: &str = "/portal";
const PORTAL_DIR: &str = "/portal/";
const SCRIPT_PATH: &str = "/portal/app.js";
const STYLE_PATH: &str = "/portal/app.css";

/// Only this origin's script, style, API and audio; no frames, no plugins, no inline code.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      img-src 'self' data:; media-src 'self'; connect-src 'self'; \
                      form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The portal's routes, for the admin router to merge.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(PORTAL, get(page))
        .route(PORTAL_DIR, get(page))
        .route(SCRIPT_PATH, get(script))
        .route(STYLE_PATH, get(style))
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `body` with its type, the policy, and no sniffing (a browser takes the type as given). Not
/// cached: a new binary's page and script must arrive together.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}
