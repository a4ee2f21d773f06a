//! Prometheus metrics at `/metrics`, for a bearer token the operator sets
//! (`BATON_METRICS_TOKEN`): HTTP requests by route template, method and status with their
//! latency; and what the engine and the workers record (executions, steps, retries, circuits,
//! AI tokens and cost). No label ever holds an organization, a user or a workflow: their
//! number has no bound. `docs/OPERATIONS.md` says what each metric means.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::error::ApiError;

/// Latency buckets, in seconds: a fast API call to a long model answer.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder, once; what every `metrics::` call records into.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some(token) = state.config.metrics_token.as_deref() else {
        return Err(ApiError::NoSuchEndpoint);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Digests compared, so the time taken tells nothing of the token.
    if crate::auth::session::hash(given) != crate::auth::session::hash(token) {
        return Err(ApiError::Unauthorized);
    }
    render(state.store.as_ref()).await
}

/// What this process recorded, in Prometheus's text format, with the queue as the database
/// holds it now (shared by every process on it).
async fn render(store: &dyn baton_store::Store) -> Result<Response, ApiError> {
    let Some(handle) = install() else {
        return Err(ApiError::Internal(
            "another metrics recorder was installed first".into(),
        ));
    };
    let now = chrono::Utc::now();
    let (waiting, oldest) = store.queue_depth(now).await?;
    metrics::gauge!("baton_queue_jobs_waiting").set(waiting as f64);
    metrics::gauge!("baton_queue_oldest_job_age_seconds").set(oldest.map_or(0.0, |at| {
        (now - at).num_milliseconds().max(0) as f64 / 1000.0
    }));
    handle.run_upkeep();
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}

/// Serves `GET /metrics` alone, with no token, on `listener`: an address the operator keeps
/// private (`--metrics-addr`), for `baton worker`, which has no HTTP API, or to keep metrics
/// off the public port. Stops when `stop` completes.
pub async fn serve_apart(
    listener: tokio::net::TcpListener,
    store: std::sync::Arc<dyn baton_store::Store>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    install();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let store = store.clone();
            async move { render(store.as_ref()).await }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}

/// Counts each request by its route's template (`/api/v1/workflows/{id}`, never the id), its
/// method and its status, and times it.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("baton_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("baton_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
