//! The typed settings, filled once at start from flags, then environment (`BATON_*`), then an
//! optional TOML config file, then defaults; every later step gets them passed in.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_store::DatabaseUrl;
use serde::Deserialize;

use crate::cli::{CommonArgs, LogFormat, ServeArgs};

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./baton-data";
/// The log filter of `serve` and `migrate`; `run` and `resume` show only warnings by default.
pub const DEFAULT_LOG: &str = "info";
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 30;

/// A setting with a bad value: names the setting and says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct SettingError {
    pub setting: &'static str,
    pub message: String,
}

impl SettingError {
    pub fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting,
            message: message.into(),
        }
    }
}

/// What `baton migrate` and every command that opens the database need.
#[derive(Debug, Clone)]
pub struct CommonSettings {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub log_format: LogFormat,
    /// The log filter, when one was set; each command has its own default.
    pub log: Option<String>,
    pub connectors: baton_connectors::ConnectorSettings,
    /// `BATON_MASTER_KEY`, when set (else the key file).
    pub master_key: Option<String>,
    /// `BATON_MASTER_KEY_FILE`, when set (else `DATA_DIR/master.key`).
    pub master_key_file: Option<PathBuf>,
    /// Where the AI providers are reached.
    pub providers: baton_connectors::llm::ProviderSettings,
    /// Redis for the counts processes share, when set.
    pub redis_url: Option<String>,
    /// What one execution may use (steps, items, a jq program's time and memory).
    pub limits: baton_engine::Limits,
}

impl CommonSettings {
    /// The log filter, or `default` when none was set.
    pub fn log_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.log.as_deref().unwrap_or(default)
    }
}

/// What `baton serve` needs.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub common: CommonSettings,
    pub addr: SocketAddr,
    pub shutdown_timeout: Duration,
    /// Where people reach the server; `http://` and the address it listens on when unset.
    pub public_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub limits: baton_server::rate_limit::Limits,
    pub google: Option<GoogleSettings>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a caller's delivery key is remembered.
    pub idempotency_retention: Duration,
    /// The bearer token /metrics asks for; off without one.
    pub metrics_token: Option<String>,
    /// Where feedback is mailed too, when set.
    pub feedback_email: Option<String>,
}

/// Sign in with Google (or another OpenID provider).
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    pub client_id: String,
    pub client_secret: String,
    pub issuer: String,
}

pub const DEFAULT_GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// The config file: the same settings, all optional. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    addr: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    shutdown_timeout: Option<u64>,
    http_allow: Option<String>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    rate_limit: Option<u32>,
    sign_in_rate_limit: Option<u32>,
    hook_rate_limit: Option<u32>,
    trusted_proxies: Option<String>,
    metrics_token: Option<String>,
    feedback_email: Option<String>,
    idempotency_retention: Option<u64>,
    redis_url: Option<String>,
    jq_time_limit: Option<u64>,
    jq_memory_limit: Option<u64>,
    max_concurrent_calls: Option<u32>,
    max_concurrency: Option<u32>,
    max_sub_workflow_runs: Option<u32>,
    min_schedule_interval: Option<u64>,
    google_client_id: Option<String>,
    google_client_secret: Option<String>,
    google_issuer: Option<String>,
    /// `[oauth.gmail]`, `[oauth.slack]`: the OAuth apps Baton connects services with.
    #[serde(default)]
    oauth: std::collections::BTreeMap<String, OAuthFileApp>,
}

/// An OAuth app in the config file, as `BATON_<SERVICE>_CLIENT_ID` and the rest give it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthFileApp {
    client_id: Option<String>,
    client_secret: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
}

impl OAuthFileApp {
    fn field(&self, suffix: &str) -> Option<&String> {
        match suffix {
            "CLIENT_ID" => self.client_id.as_ref(),
            "CLIENT_SECRET" => self.client_secret.as_ref(),
            "AUTHORIZE_URL" => self.authorize_url.as_ref(),
            "TOKEN_URL" => self.token_url.as_ref(),
            _ => None,
        }
    }
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, SettingError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            SettingError::new(
                "config file (BATON_CONFIG)",
                format!("cannot read {}: {error}", path.display()),
            )
        })?;
        Self::parse(&text).map_err(|message| {
            SettingError::new(
                "config file (BATON_CONFIG)",
                format!("{}: {message}", path.display()),
            )
        })
    }

    /// Errors come as one line: `line N: message`.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|error| {
            let message = error.message().trim().to_owned();
            match error.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })
    }
}

impl CommonSettings {
    pub fn resolve(args: &CommonArgs) -> Result<(Self, ConfigFile), SettingError> {
        let file = match &args.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let settings = Self::resolve_with(args, &file)?;
        Ok((settings, file))
    }

    fn resolve_with(args: &CommonArgs, file: &ConfigFile) -> Result<Self, SettingError> {
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(SettingError::new("data dir (BATON_DATA_DIR)", "is empty"));
        }
        let database = match args
            .database_url
            .as_deref()
            .or(file.database_url.as_deref())
        {
            Some(url) => DatabaseUrl::parse(url).map_err(|error| {
                SettingError::new("database URL (BATON_DATABASE_URL)", error.to_string())
            })?,
            None => DatabaseUrl::sqlite_in(&data_dir),
        };
        let log = args.log.clone().or_else(|| file.log.clone());
        if let Some(log) = &log {
            tracing_subscriber::EnvFilter::try_new(log).map_err(|error| {
                SettingError::new("log filter (BATON_LOG)", format!("{log:?}: {error}"))
            })?;
        }
        let http_allow = match args.http_allow.as_deref().or(file.http_allow.as_deref()) {
            Some(list) => baton_connectors::AddressPolicy::parse(list).map_err(|error| {
                SettingError::new("HTTP allow list (BATON_HTTP_ALLOW)", error.to_string())
            })?,
            None => baton_connectors::AddressPolicy::default(),
        };
        let defaults = baton_connectors::llm::ProviderSettings::default();
        let base_url =
            |flag: &Option<String>, ecosystem: &str, setting: &'static str, default: String| {
                let url = flag
                    .clone()
                    .or_else(|| std::env::var(ecosystem).ok())
                    .filter(|url| !url.trim().is_empty())
                    .unwrap_or(default);
                match url::Url::parse(&url) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url),
                    _ => Err(SettingError::new(
                        setting,
                        format!("{url:?} is not an http(s) URL"),
                    )),
                }
            };
        let providers = baton_connectors::llm::ProviderSettings {
            openai_base_url: base_url(
                &args.openai_base_url,
                "OPENAI_BASE_URL",
                "OpenAI base URL (BATON_OPENAI_BASE_URL)",
                defaults.openai_base_url,
            )?,
            anthropic_base_url: base_url(
                &args.anthropic_base_url,
                "ANTHROPIC_BASE_URL",
                "Anthropic base URL (BATON_ANTHROPIC_BASE_URL)",
                defaults.anthropic_base_url,
            )?,
            gemini_base_url: base_url(
                &args.gemini_base_url,
                "GEMINI_BASE_URL",
                "Gemini base URL (BATON_GEMINI_BASE_URL)",
                defaults.gemini_base_url,
            )?,
            cohere_base_url: base_url(
                &args.cohere_base_url,
                "CO_API_URL",
                "Cohere base URL (BATON_COHERE_BASE_URL)",
                defaults.cohere_base_url,
            )?,
            compatible: llm_servers(args.llm_servers.as_deref().unwrap_or_default())?,
        };
        let mut limits = baton_engine::Limits::default();
        if let Some(ms) = args.jq_time_limit.or(file.jq_time_limit) {
            if ms == 0 || ms > 60_000 {
                return Err(SettingError::new(
                    "jq time limit (BATON_JQ_TIME_LIMIT)",
                    format!("{ms} is not between 1 and 60000 milliseconds"),
                ));
            }
            limits.jq.time = Duration::from_millis(ms);
        }
        if let Some(mib) = args.jq_memory_limit.or(file.jq_memory_limit) {
            if mib == 0 || mib > 16_384 {
                return Err(SettingError::new(
                    "jq memory limit (BATON_JQ_MEMORY_LIMIT)",
                    format!("{mib} is not between 1 and 16384 MiB"),
                ));
            }
            limits.jq.memory = (mib as usize) << 20;
        }
        let at_least_one = |value: Option<u32>, setting: &'static str| match value {
            Some(0) => Err(SettingError::new(setting, "must be at least 1")),
            other => Ok(other),
        };
        if let Some(calls) = at_least_one(
            args.max_concurrent_calls.or(file.max_concurrent_calls),
            "concurrent calls (BATON_MAX_CONCURRENT_CALLS)",
        )? {
            limits.max_concurrent_calls = calls;
        }
        if let Some(at_once) = at_least_one(
            args.max_concurrency.or(file.max_concurrency),
            "concurrency (BATON_MAX_CONCURRENCY)",
        )? {
            limits.max_concurrency = at_once;
        }
        if let Some(runs) = at_least_one(
            args.max_sub_workflow_runs.or(file.max_sub_workflow_runs),
            "sub-workflow runs (BATON_MAX_SUB_WORKFLOW_RUNS)",
        )? {
            limits.max_descendants = runs;
        }
        if let Some(seconds) = args.min_schedule_interval.or(file.min_schedule_interval) {
            limits.min_schedule_interval = Duration::from_secs(seconds);
        }
        Ok(Self {
            limits,
            redis_url: args.redis_url.clone().or_else(|| file.redis_url.clone()),
            providers,
            connectors: baton_connectors::ConnectorSettings {
                http_allow,
                asana_base_url: args.asana_base_url.clone(),
                calendly_base_url: args.calendly_base_url.clone(),
                slack_base_url: args.slack_base_url.clone(),
                gmail_base_url: args.gmail_base_url.clone(),
                google_calendar_base_url: args.google_calendar_base_url.clone(),
                hubspot_base_url: args.hubspot_base_url.clone(),
                notion_base_url: args.notion_base_url.clone(),
                resend_base_url: args.resend_base_url.clone(),
                stripe_base_url: args.stripe_base_url.clone(),
                zapier_base_url: args.zapier_base_url.clone(),
                make_base_url: args.make_base_url.clone(),
                oauth: oauth_apps(&|name| std::env::var(name).ok(), &file.oauth)?,
                oauth_redirect_url: None,
            },
            data_dir,
            database,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            log,
            master_key: args
                .master_key
                .clone()
                .filter(|keys| !keys.trim().is_empty()),
            master_key_file: args
                .master_key_file
                .clone()
                .filter(|path| !path.as_os_str().is_empty()),
        })
    }
}

/// `ADDRESS|CIDR,...`: the reverse proxies whose `X-Forwarded-For` is believed.
fn trusted_proxies(text: &str) -> Result<Vec<ipnet::IpNet>, SettingError> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    SettingError::new(
                        "trusted proxies (BATON_TRUSTED_PROXIES)",
                        format!("{entry:?} is neither an address nor a CIDR range"),
                    )
                })
        })
        .collect()
}

/// `ID=URL,...`: the OpenAI-compatible servers, by the provider id steps name.
pub fn llm_servers(text: &str) -> Result<std::collections::BTreeMap<String, String>, SettingError> {
    const SETTING: &str = "OpenAI-compatible servers (BATON_LLM_SERVERS)";
    let mut servers = std::collections::BTreeMap::new();
    for entry in text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let Some((id, url)) = entry.split_once('=') else {
            return Err(SettingError::new(
                SETTING,
                format!("{entry:?} is not ID=URL"),
            ));
        };
        let (id, url) = (id.trim(), url.trim());
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(SettingError::new(
                SETTING,
                format!("{id:?} is not an id of lower-case letters, digits, - and _"),
            ));
        }
        if baton_engine::model::PROVIDERS.contains(&id) {
            return Err(SettingError::new(
                SETTING,
                format!("{id:?} is a built-in provider; name the server otherwise"),
            ));
        }
        if !url::Url::parse(url).is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https")) {
            return Err(SettingError::new(
                SETTING,
                format!("{id}: {url:?} is not an http(s) URL"),
            ));
        }
        servers.insert(id.to_owned(), url.to_owned());
    }
    Ok(servers)
}

/// The OAuth2 apps registered for the connectors that use OAuth2, from
/// `BATON_<SERVICE>_CLIENT_ID` and `BATON_<SERVICE>_CLIENT_SECRET` (both or neither), with
/// `BATON_<SERVICE>_AUTHORIZE_URL` and `BATON_<SERVICE>_TOKEN_URL` to use other endpoints;
/// each also from the config file's `[oauth.<service>]` table, which the environment wins over.
fn oauth_apps(
    read: &dyn Fn(&str) -> Option<String>,
    file: &std::collections::BTreeMap<String, OAuthFileApp>,
) -> Result<std::collections::BTreeMap<String, baton_connectors::OAuthClientSettings>, SettingError>
{
    let services = baton_connectors::Registry::oauth_services();
    if let Some(unknown) = file
        .keys()
        .find(|service| !services.contains(&service.as_str()))
    {
        return Err(SettingError::new(
            "config file (BATON_CONFIG)",
            format!(
                "[oauth.{unknown}]: no connector {unknown:?} connects with OAuth2 (these do: {})",
                services.join(", ")
            ),
        ));
    }
    let mut apps = std::collections::BTreeMap::new();
    for service in services {
        let upper = service.to_ascii_uppercase();
        let value = |suffix: &str| {
            read(&format!("BATON_{upper}_{suffix}"))
                .or_else(|| file.get(service)?.field(suffix).cloned())
                .filter(|v| !v.trim().is_empty())
        };
        let setting = "OAuth app (BATON_<SERVICE>_CLIENT_ID, BATON_<SERVICE>_CLIENT_SECRET)";
        let (client_id, client_secret) = match (value("CLIENT_ID"), value("CLIENT_SECRET")) {
            (Some(id), Some(secret)) => (id, secret),
            (None, None) => continue,
            _ => {
                return Err(SettingError::new(
                    setting,
                    format!(
                        "set both BATON_{upper}_CLIENT_ID and BATON_{upper}_CLIENT_SECRET, or neither"
                    ),
                ));
            }
        };
        let endpoint = |suffix: &str| match value(suffix) {
            Some(url)
                if url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) =>
            {
                Ok(Some(url))
            }
            Some(url) => Err(SettingError::new(
                setting,
                format!("BATON_{upper}_{suffix}: {url:?} is not an http(s) URL"),
            )),
            None => Ok(None),
        };
        let authorize_url = endpoint("AUTHORIZE_URL")?;
        let token_url = endpoint("TOKEN_URL")?;
        apps.insert(
            service.to_owned(),
            baton_connectors::OAuthClientSettings {
                client_id,
                client_secret,
                authorize_url,
                token_url,
            },
        );
    }
    Ok(apps)
}

impl ServeSettings {
    pub fn resolve(args: &ServeArgs) -> Result<Self, SettingError> {
        let (common, file) = CommonSettings::resolve(&args.common)?;
        Self::finish(args, &file, common)
    }

    fn finish(
        args: &ServeArgs,
        file: &ConfigFile,
        common: CommonSettings,
    ) -> Result<Self, SettingError> {
        let addr_text = args
            .addr
            .as_deref()
            .or(file.addr.as_deref())
            .unwrap_or(DEFAULT_ADDR);
        let addr = addr_text.parse::<SocketAddr>().map_err(|_| {
            SettingError::new(
                "listen address (BATON_ADDR)",
                format!("{addr_text:?} is not an IP:PORT address, e.g. 127.0.0.1:8080"),
            )
        })?;
        let seconds = args
            .shutdown_timeout
            .or(file.shutdown_timeout)
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
        let public_url = args.public_url.clone().or_else(|| file.public_url.clone());
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(SettingError::new(
                "public URL (BATON_PUBLIC_URL)",
                format!("{url:?} must start with http:// or https://"),
            ));
        }
        let smtp_url = args.smtp_url.clone().or_else(|| file.smtp_url.clone());
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(SettingError::new(
                "SMTP URL (BATON_SMTP_URL)",
                "must start with smtp:// or smtps://",
            ));
        }
        let defaults = baton_server::rate_limit::Limits::default();
        let limits = baton_server::rate_limit::Limits {
            per_user: args
                .rate_limit
                .or(file.rate_limit)
                .unwrap_or(defaults.per_user),
            per_address_sign_in: args
                .sign_in_rate_limit
                .or(file.sign_in_rate_limit)
                .unwrap_or(defaults.per_address_sign_in),
            per_hook: args
                .hook_rate_limit
                .or(file.hook_rate_limit)
                .unwrap_or(defaults.per_hook),
        };
        for (setting, value) in [
            ("rate limit (BATON_RATE_LIMIT)", limits.per_user),
            (
                "sign-in rate limit (BATON_SIGN_IN_RATE_LIMIT)",
                limits.per_address_sign_in,
            ),
            ("hook rate limit (BATON_HOOK_RATE_LIMIT)", limits.per_hook),
        ] {
            if value == 0 {
                return Err(SettingError::new(setting, "must be at least 1"));
            }
        }
        let google_id = args
            .google_client_id
            .clone()
            .or_else(|| file.google_client_id.clone());
        let google_secret = args
            .google_client_secret
            .clone()
            .or_else(|| file.google_client_secret.clone());
        let google = match (google_id, google_secret) {
            (Some(client_id), Some(client_secret)) => Some(GoogleSettings {
                client_id,
                client_secret,
                issuer: args
                    .google_issuer
                    .clone()
                    .or_else(|| file.google_issuer.clone())
                    .unwrap_or_else(|| DEFAULT_GOOGLE_ISSUER.to_owned()),
            }),
            (None, None) => None,
            _ => {
                return Err(SettingError::new(
                    "Google sign-in (BATON_GOOGLE_CLIENT_ID, BATON_GOOGLE_CLIENT_SECRET)",
                    "set both the client id and the client secret, or neither",
                ));
            }
        };
        let trusted_proxies = trusted_proxies(
            args.trusted_proxies
                .as_deref()
                .or(file.trusted_proxies.as_deref())
                .unwrap_or_default(),
        )?;
        let retention_hours = args
            .idempotency_retention
            .or(file.idempotency_retention)
            .unwrap_or(24);
        if retention_hours == 0 {
            return Err(SettingError::new(
                "idempotency retention (BATON_IDEMPOTENCY_RETENTION)",
                "must be at least 1 hour",
            ));
        }
        let metrics_token = args
            .metrics_token
            .clone()
            .or_else(|| file.metrics_token.clone())
            .filter(|token| !token.is_empty());
        if metrics_token.as_ref().is_some_and(|token| token.len() < 16) {
            return Err(SettingError::new(
                "the metrics token (BATON_METRICS_TOKEN)",
                "must have at least 16 characters",
            ));
        }
        let feedback_email = args
            .feedback_email
            .clone()
            .or_else(|| file.feedback_email.clone())
            .filter(|address| !address.trim().is_empty());
        if let Some(address) = &feedback_email
            && !baton_core::dsl::text::is_mail_address(address.trim())
        {
            return Err(SettingError::new(
                "the feedback address (BATON_FEEDBACK_EMAIL)",
                format!("{address:?} is not an e-mail address"),
            ));
        }
        Ok(Self {
            metrics_token,
            feedback_email,
            idempotency_retention: Duration::from_secs(retention_hours * 3600),
            trusted_proxies,
            common,
            addr,
            shutdown_timeout: Duration::from_secs(seconds),
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            smtp_url,
            mail_from: args
                .mail_from
                .clone()
                .or_else(|| file.mail_from.clone())
                .unwrap_or_else(|| baton_server::mail::DEFAULT_FROM.to_owned()),
            limits,
            google,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: ServeArgs, file: &str) -> Result<ServeSettings, SettingError> {
        let file = ConfigFile::parse(file).expect("config parses");
        let common = CommonSettings::resolve_with(&args.common, &file)?;
        ServeSettings::finish(&args, &file, common)
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = resolve(ServeArgs::default(), "").unwrap();
        assert_eq!(settings.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(settings.common.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(
            settings.common.database.to_string(),
            "sqlite:./baton-data/baton.db"
        );
        assert_eq!(settings.common.log_format, LogFormat::Text);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn the_config_file_fills_what_flags_and_environment_leave_open() {
        let file = r#"
            addr = "127.0.0.1:9000"
            data_dir = "/var/lib/baton"
            log_format = "json"
            shutdown_timeout = 5
            redis_url = "redis://cache:6379"
        "#;
        let settings = resolve(ServeArgs::default(), file).unwrap();
        assert_eq!(settings.addr.to_string(), "127.0.0.1:9000");
        assert_eq!(
            settings.common.redis_url.as_deref(),
            Some("redis://cache:6379"),
            "a worker reads it too"
        );
        assert_eq!(
            settings.common.database.to_string(),
            "sqlite:/var/lib/baton/baton.db"
        );
        assert_eq!(settings.common.log_format, LogFormat::Json);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(5));

        let mut args = ServeArgs {
            addr: Some("127.0.0.1:7000".into()),
            ..Default::default()
        };
        args.common.database_url = Some("postgres://baton@db/prod".into());
        let settings = resolve(args, file).unwrap();
        assert_eq!(
            settings.addr.to_string(),
            "127.0.0.1:7000",
            "a flag or variable wins"
        );
        assert_eq!(
            settings.common.database.to_string(),
            "postgres://baton@db:5432/prod"
        );
    }

    #[test]
    fn a_metrics_token_turns_metrics_on_and_a_short_one_is_refused() {
        assert_eq!(
            resolve(ServeArgs::default(), "").unwrap().metrics_token,
            None
        );
        let settings = resolve(
            ServeArgs::default(),
            "metrics_token = \"a-long-enough-token\"",
        )
        .unwrap();
        assert_eq!(
            settings.metrics_token.as_deref(),
            Some("a-long-enough-token")
        );
        let short = ServeArgs {
            metrics_token: Some("short".into()),
            ..Default::default()
        };
        let error = resolve(short, "").unwrap_err().to_string();
        assert!(
            error.contains("BATON_METRICS_TOKEN") && error.contains("16 characters"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_name_their_setting() {
        let args = ServeArgs {
            addr: Some("localhost".into()),
            ..Default::default()
        };
        let error = resolve(args, "").unwrap_err();
        assert_eq!(error.setting, "listen address (BATON_ADDR)");

        let mut args = ServeArgs::default();
        args.common.database_url = Some("mysql://root@localhost/db".into());
        let error = resolve(args, "").unwrap_err().to_string();
        assert!(
            error.starts_with("database URL (BATON_DATABASE_URL): unknown scheme \"mysql\""),
            "{error}"
        );

        let mut args = ServeArgs::default();
        args.common.log = Some("info,[bad".into());
        assert_eq!(
            resolve(args, "").unwrap_err().setting,
            "log filter (BATON_LOG)"
        );
    }

    #[test]
    fn oauth_apps_come_from_the_config_file_too() {
        let file = ConfigFile::parse(
            r#"
            [oauth.gmail]
            client_id = "1234.apps.googleusercontent.com"
            client_secret = "from-the-file"
            token_url = "https://oauth2.example.test/token"
        "#,
        )
        .unwrap();
        let none = |_: &str| None;
        let apps = oauth_apps(&none, &file.oauth).unwrap();
        let gmail = &apps["gmail"];
        assert_eq!(gmail.client_id, "1234.apps.googleusercontent.com");
        assert_eq!(gmail.client_secret, "from-the-file");
        assert_eq!(
            gmail.token_url.as_deref(),
            Some("https://oauth2.example.test/token")
        );
        assert!(!apps.contains_key("slack"), "only what is set");

        let environment = |name: &str| {
            (name == "BATON_GMAIL_CLIENT_SECRET").then(|| "from-the-environment".to_owned())
        };
        let apps = oauth_apps(&environment, &file.oauth).unwrap();
        assert_eq!(
            apps["gmail"].client_secret, "from-the-environment",
            "the environment wins"
        );

        let half = ConfigFile::parse("[oauth.slack]\nclient_id = \"1.2\"\n").unwrap();
        let error = oauth_apps(&none, &half.oauth).unwrap_err().to_string();
        assert!(error.contains("BATON_SLACK_CLIENT_SECRET"), "{error}");
        let unknown = ConfigFile::parse("[oauth.stripe]\nclient_id = \"x\"\n").unwrap();
        let error = oauth_apps(&none, &unknown.oauth).unwrap_err().to_string();
        assert!(
            error.contains("[oauth.stripe]") && error.contains("gmail"),
            "{error}"
        );
        let misspelt = ConfigFile::parse("[oauth.gmail]\nclient = \"x\"\n").unwrap_err();
        assert!(misspelt.contains("unknown field `client`"), "{misspelt}");
    }

    #[test]
    fn config_file_errors_give_the_line_and_the_key() {
        let error = ConfigFile::parse("data_dir = \"x\"\nadr = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(error.starts_with("line 2: unknown field `adr`"), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }
}
