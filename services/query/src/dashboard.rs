//! Serves the built dashboard (`services/web`, built by Vite into `dist/`) from the same origin as
//! the API, so the page needs no CORS and the token never crosses origins.
//!
//! - Files under `WEB_ROOT` are served as they are. Vite names the bundles by their content hash
//!   (`/assets/index-3f2a1c.js`), so those are cached for a year; `index.html` is revalidated on
//!   every load, so a deploy reaches the next page load.
//! - Any other GET that asks for HTML gets `index.html`: the page's own routes (`/incident/{id}`,
//!   `/history`, `/wallboard`) survive a reload. Everything else keeps the API's JSON 404.
//! - The API routes are registered before this and win: the page's routes never start with
//!   `/incidents`, `/events` or `/resolve`.

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};
use std::path::Path;
use tocsin_runtime::ApiError;

/// Mounts the dashboard at `/` when `web_root` holds a build; otherwise logs how to build it.
pub fn mount(cfg: &mut web::ServiceConfig, web_root: Option<&Path>) {
    let Some(root) = web_root else { return };
    let index = root.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            web_root = %root.display(),
            "no dashboard build here (index.html is missing); the API works, the page does not. \
             Build it with `make web`"
        );
        return;
    }
    tracing::info!(web_root = %root.display(), "serving the dashboard");
    let fallback_index = index.clone();
    cfg.service(
        web::scope("").wrap(from_fn(cache_headers)).service(
            Files::new("/", root)
                .index_file("index.html")
                .use_etag(true)
                .use_last_modified(true)
                .path_filter(|path, _| !path.starts_with(".."))
                .default_handler(fn_service(move |request: ServiceRequest| {
                    let index = fallback_index.clone();
                    async move { Ok(page_route(request, &index).await) }
                })),
        ),
    );
}

/// A GET for HTML that matched no file is one of the page's own routes: answer with `index.html`.
async fn page_route(request: ServiceRequest, index: &Path) -> ServiceResponse {
    let (request, _) = request.into_parts();
    let wants_html = request.method() == actix_web::http::Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    let response = if wants_html {
        match NamedFile::open(index) {
            Ok(file) => file.into_response(&request),
            Err(error) => {
                HttpResponse::from_error(ApiError::internal(format!("cannot read the dashboard's index.html: {error}")))
            }
        }
    } else {
        HttpResponse::from_error(ApiError::not_found(format!("no route {} {}", request.method(), request.path())))
    };
    ServiceResponse::new(request, response)
}

/// Hashed bundles are cached for a year; everything else (index.html, the icon) is revalidated.
async fn cache_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hashed = request.path().starts_with("/assets/");
    let mut response = next.call(request).await?;
    if response.status().is_success() || response.status() == actix_web::http::StatusCode::NOT_MODIFIED {
        let policy = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    Ok(response)
}
