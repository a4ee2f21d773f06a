//! Baton's HTTP API: the router, its shared context, and a server that shuts down gracefully.
//! Each area of the API is a module that owns its routes; [`router`] merges them.

mod api_keys;
mod audit;
pub mod auth;
mod connectors;
mod credentials;
mod drafts;
mod error;
mod executions;
mod export;
mod gateway;
mod health;
mod hooks;
mod insights;
pub mod mail;
mod members;
pub mod metrics;
pub mod notices;
mod oauth;
mod openapi;
mod organizations;
mod pages;
mod prices;
pub mod rate_limit;
mod redact;
mod request;
mod security;
mod shutdown;
pub mod templates;
mod web;
mod workflows;

use std::sync::Arc;

use axum::Router;
use baton_store::Store;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, Detail};
pub use shutdown::serve;

/// How the server is set up by its operator.
pub struct Config {
    /// Where people reach the server (`https://baton.example.com`), for the links in mails and
    /// the sign-in redirects. When it is `https`, cookies are `Secure` and responses carry HSTS.
    pub public_url: String,
    pub mailer: mail::Mailer,
    pub limits: rate_limit::Limits,
    /// Sign in with Google, when a client id and secret are configured.
    pub google: Option<auth::oidc::Provider>,
    /// Proxies whose `X-Forwarded-For` is believed; every other peer is the client itself.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The bearer token `/metrics` asks for; it is off without one.
    pub metrics_token: Option<String>,
    /// Where feedback sent from the app is mailed too (the operator), when set.
    pub feedback_email: Option<String>,
}

impl Config {
    /// A server at `public_url` that writes its mail to `outbox`, with the default limits and
    /// no Google sign-in.
    pub fn new(public_url: &str, outbox: std::path::PathBuf) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            mailer: mail::Mailer::outbox(outbox, mail::DEFAULT_FROM)
                .expect("the default sender is a valid mailbox"),
            limits: rate_limit::Limits::default(),
            google: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
            feedback_email: None,
        }
    }

    /// Whether the server is reached over TLS.
    pub fn is_tls(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// What every handler may use: one cloneable context.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The keys that sign and verify access tokens.
    pub keys: Arc<auth::token::Keyring>,
    pub config: Arc<Config>,
    /// Failed sign-ins, per account and per address (in this process).
    pub sign_in_failures: Arc<auth::throttle::Throttle>,
    /// Requests per user, and per address on the sign-in endpoints.
    pub limiter: Arc<dyn rate_limit::Limiter>,
    /// Validates workflows, starts executions and waits for them.
    pub runtime: Arc<baton_runtime::Runtime>,
}

impl AppState {
    /// Counts requests in this process (see [`AppState::with_limiter`] for Redis), and runs
    /// workflows with the built-in connectors and no language model, sealing secrets with a
    /// master key made for this state alone (see [`AppState::with_runtime`], which the server
    /// uses to give the operator's).
    pub fn new(store: Arc<dyn Store>, keys: Arc<auth::token::Keyring>, config: Config) -> Self {
        let runtime = Arc::new(default_runtime(store.clone()));
        Self {
            store,
            keys,
            config: Arc::new(config),
            sign_in_failures: Arc::default(),
            limiter: Arc::new(rate_limit::MemoryLimiter::default()),
            runtime,
        }
    }

    pub fn with_runtime(mut self, runtime: Arc<baton_runtime::Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    pub fn with_limiter(mut self, limiter: Arc<dyn rate_limit::Limiter>) -> Self {
        self.limiter = limiter;
        self
    }
}

/// A runtime with the built-in connectors, no language model, and a master key of its own.
pub fn default_runtime(store: Arc<dyn Store>) -> baton_runtime::Runtime {
    runtime_with(
        store,
        Arc::new(baton_connectors::Registry::new(&Default::default())),
    )
}

/// A runtime with these connectors, no language model, and a master key of its own.
pub fn runtime_with(
    store: Arc<dyn Store>,
    connectors: Arc<dyn baton_engine::connector::Connectors>,
) -> baton_runtime::Runtime {
    let vault = Arc::new(baton_store::vault::Vault::new(
        store.clone(),
        baton_store::vault::MasterKeys::new(baton_store::vault::MasterKey::generate(), vec![]),
    ));
    baton_runtime::Runtime::assemble(
        store,
        connectors,
        Arc::new(baton_engine::provider::NoProvider),
        vault,
    )
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let api = auth::routes::routes()
        .merge(auth::account::routes())
        .merge(auth::mfa::routes())
        .merge(auth::reset::routes())
        .merge(auth::verify::routes())
        .merge(auth::oidc::routes())
        .merge(audit::routes())
        .merge(api_keys::routes())
        .merge(drafts::routes())
        .merge(gateway::routes())
        .merge(credentials::routes())
        .merge(oauth::routes())
        .merge(connectors::routes())
        .merge(prices::routes())
        .merge(organizations::routes())
        .merge(members::routes())
        .merge(export::routes())
        .merge(insights::routes())
        .merge(workflows::routes())
        .merge(templates::routes())
        .merge(executions::routes())
        .merge(hooks::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::per_user,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard::refuse_cross_site,
        ));
    metrics::install();
    let routes = Router::new()
        .merge(health::routes())
        .merge(hooks::public_routes())
        .merge(openapi::routes())
        .merge(api)
        .route_layer(axum::middleware::from_fn(metrics::track))
        .merge(metrics::routes())
        .fallback_service(web::service());
    security::with_security_headers(routes, state.config.is_tls())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// A request's span names its method and path, never its query (an OAuth callback carries a
/// one-time code there) nor a hook's token, which is the hook's only key.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = logged_path(request.uri().path()),
    )
}

fn logged_path(path: &str) -> &str {
    if path.starts_with("/hooks/") {
        "/hooks/{token}"
    } else {
        path
    }
}
