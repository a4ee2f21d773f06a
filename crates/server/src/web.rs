//! The web app, built into the binary (`web/dist`, committed; see ADR 0017). Every GET that is
//! not the API or a hook is the app: a built file when one has that path, else `index.html`, so
//! that the links Baton mails (`/invite?token=…`, `/reset-password?token=…`) and any page reloaded
//! in the browser open the app at that page. Hashed files under `assets/` are cached for a year;
//! `index.html` is never cached, so a new version is picked up at the next load.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "../../web/dist"]
struct Built;

/// Paths that are never the app: the API and hooks answer their own 404 in JSON.
fn is_api(path: &str) -> bool {
    ["/api/", "/hooks/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || path == "/api"
        || path == "/hooks"
}

/// The app as a service, its files compressed (brotli or gzip) for browsers that accept it.
pub(crate) fn service() -> axum::Router {
    axum::Router::new()
        .fallback(app)
        .layer(tower_http::compression::CompressionLayer::new())
}

pub(crate) async fn app(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if is_api(path) || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::NoSuchEndpoint.into_response();
    }
    let file = path.trim_start_matches('/');
    if !file.is_empty()
        && let Some(found) = Built::get(file)
    {
        let cache = if file.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return built(found, cache);
    }
    if file.starts_with("assets/") {
        // A stale page asking for an old build's file: a plain 404, not the app.
        return StatusCode::NOT_FOUND.into_response();
    }
    match Built::get("index.html") {
        Some(index) => built(index, "no-cache"),
        None => ApiError::NoSuchEndpoint.into_response(),
    }
}

fn built(file: rust_embed::EmbeddedFile, cache: &'static str) -> Response {
    let mime = file.metadata.mimetype().to_owned();
    let mime = if mime.starts_with("text/") || mime.ends_with("javascript") {
        format!("{mime}; charset=utf-8")
    } else {
        mime
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    let mut response = (StatusCode::OK, file.data.into_owned()).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(path: &str) -> Response {
        app(Method::GET, path.parse().unwrap()).await
    }

    fn header(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn pages_and_mailed_links_open_the_app_never_cached() {
        for path in [
            "/",
            "/sign-in",
            "/invite?token=abc",
            "/reset-password?token=abc",
            "/verify-email?token=x",
        ] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                header(&response, header::CACHE_CONTROL),
                "no-cache",
                "{path}"
            );
            assert!(
                header(&response, header::CONTENT_TYPE).starts_with("text/html"),
                "{path}"
            );
            let page = text(response).await;
            assert!(page.contains("<div id=\"root\">"), "{path}: {page}");
            assert!(!page.contains("<script>"), "no inline script under the CSP");
        }
    }

    #[tokio::test]
    async fn built_assets_are_cached_for_a_year_and_unknown_ones_are_404() {
        let index = text(get("/").await).await;
        let script = index
            .split('"')
            .find(|part| part.starts_with("/assets/") && part.ends_with(".js"))
            .expect("the page loads a built script");
        let response = get(script).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&response, header::CONTENT_TYPE).contains("javascript"));
        assert_eq!(
            get("/assets/gone-1234.js").await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn files_are_compressed_for_browsers_that_accept_it() {
        use tower::ServiceExt;
        let index = text(get("/").await).await;
        let script = index
            .split('"')
            .find(|part| part.starts_with("/assets/") && part.ends_with(".js"))
            .expect("the page loads a built script")
            .to_owned();
        let request = axum::http::Request::get(script.as_str())
            .header(header::ACCEPT_ENCODING, "br, gzip")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = service().oneshot(request).await.unwrap();
        assert_eq!(header(&response, header::CONTENT_ENCODING), "br");
        let plain = axum::body::to_bytes(get(&script).await.into_body(), usize::MAX)
            .await
            .unwrap()
            .len();
        let sent = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .len();
        assert!(sent * 2 < plain, "{sent} bytes sent for {plain}");
    }

    #[tokio::test]
    async fn the_api_and_hooks_never_fall_back_to_the_app() {
        for path in ["/api/v1/nothing", "/api", "/hooks/unknown"] {
            let response = get(path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(
                header(&response, header::CONTENT_TYPE).starts_with("application/json"),
                "{path}"
            );
        }
        let posted = app(Method::POST, "/sign-in".parse().unwrap()).await;
        assert_eq!(posted.status(), StatusCode::NOT_FOUND);
    }
}
