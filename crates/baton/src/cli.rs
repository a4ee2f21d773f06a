//! The command line: one binary, one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "Baton: connect your AI and SaaS tools and automate work with durable workflows.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (migrating the database first).
    Serve(Box<ServeArgs>),
    /// Bring the database schema up to date, then exit.
    Migrate(CommonArgs),
    /// Check a workflow file: exit 0 when it is valid, else 1 with one line per problem.
    Validate(ValidateArgs),
    /// Run a workflow file on the local store, showing each step live on stderr.
    Run(RunArgs),
    /// Finish executions that a stopped `baton run` left unfinished (all of them, or one).
    Resume(ResumeArgs),
    /// Run workflows from the queue, without the HTTP API (alongside `baton serve --no-worker`
    /// on the same PostgreSQL, as many as the load needs).
    Worker(WorkerArgs),
    /// Add a new key for signing sign-in tokens; older keys keep verifying, so nobody is signed
    /// out. Restart `baton serve` for it to take effect.
    RotateKeys(CommonArgs),
    /// Make a new master key and rewrap every organization's data key with it; the secrets
    /// stay sealed as they are.
    RotateMasterKey(CommonArgs),
    /// Copy the whole database into FILE, sealed with the backup key, while Baton keeps serving.
    /// The master key is not in it: keep that, and the backup key, apart from the backups.
    Backup(BackupArgs),
    /// Fill an empty database (a new data folder, or a new PostgreSQL database) from a backup.
    Restore(BackupArgs),
    /// Ask a running server whether it is ready: exit 0 when its `/readyz` answers 200, else 1
    /// (a container's health check, which needs no shell or curl in the image).
    Probe(ProbeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The URL to ask.
    #[arg(default_value = "http://127.0.0.1:8080/readyz")]
    pub url: String,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The backup file.
    pub file: PathBuf,

    /// A file holding the backup key (base64, 32 bytes); `baton backup` makes it, mode 0600,
    /// when it is missing. Keep it apart from the backups and from the data dir.
    #[arg(long, env = "BATON_BACKUP_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// The backup key itself (base64), instead of a file. Give it in the environment.
    #[arg(
        long,
        env = "BATON_BACKUP_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// For programs.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The workflow document (JSON).
    pub file: PathBuf,

    /// `text`: `JSON-PATH: message` lines on stderr; `json`: `{"valid", "errors"}` on stdout.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The workflow document (JSON).
    pub file: PathBuf,

    /// The trigger payload, as JSON or `@FILE`; templates read it as `{{trigger.*}}`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub input: Option<String>,

    #[command(flatten)]
    pub execution: ExecutionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The execution to resume; all unfinished ones when absent.
    pub execution_id: Option<String>,

    #[command(flatten)]
    pub execution: ExecutionArgs,
}

/// What `run` and `resume` share.
#[derive(Debug, Clone, Args)]
pub struct ExecutionArgs {
    /// The running user and organization, as JSON or `@FILE`; templates read it as `{{user.*}}`.
    #[arg(long, value_name = "JSON|@FILE")]
    pub user: Option<String>,

    /// `text` prints the output; `json` prints the whole execution (id, state, steps, output, cost).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub output: OutputFormat,

    /// A JSON file mapping service ids (or `service/name`) to credentials.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Settings every command that touches the database shares. Each is taken from its flag, else
/// its environment variable, else the config file, else its default.
#[derive(Debug, Clone, Default, Args)]
pub struct CommonArgs {
    /// A TOML file with any of the settings below (keys as in the flags, with underscores:
    /// `data_dir`, `database_url`, ...). Flags and environment variables win over it.
    #[arg(long, env = "BATON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Folder for Baton's own files: the SQLite database, keys, the mail outbox.
    /// [default: ./baton-data]
    #[arg(long, env = "BATON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The database: `sqlite:PATH` or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    /// [default: sqlite:DATA_DIR/baton.db]
    #[arg(
        long,
        env = "BATON_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Log format: readable `text`, or `json` lines for log collectors. [default: text]
    #[arg(long, env = "BATON_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Which logs to show, as tracing filter directives, e.g. `info` or `baton=debug,info`.
    /// [default: info]
    #[arg(long, env = "BATON_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Internal hosts and address ranges that HTTP steps and email connections may reach, comma-separated
    /// (e.g. `127.0.0.1,10.0.0.0/8,intranet.example.com`). [default: none]
    #[arg(long, env = "BATON_HTTP_ALLOW", value_name = "LIST")]
    pub http_allow: Option<String>,

    /// The master key(s) that wrap the stored credentials' keys: base64, comma-separated, the
    /// current first. Give it in the environment, not as a flag. [default: DATA_DIR/master.key,
    /// made on first start]
    #[arg(
        long,
        env = "BATON_MASTER_KEY",
        value_name = "KEYS",
        hide_env_values = true
    )]
    pub master_key: Option<String>,

    /// A file holding the master key(s), one per line, the current first, kept apart from the
    /// data dir (e.g. a systemd credential: `$CREDENTIALS_DIRECTORY/baton-master-key`); made
    /// with mode 0600 when missing. [default: DATA_DIR/master.key]
    #[arg(long, env = "BATON_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<std::path::PathBuf>,

    /// Where OpenAI (or an OpenAI-compatible server) is reached; OPENAI_BASE_URL works too.
    /// [default: https://api.openai.com/v1]
    #[arg(long, env = "BATON_OPENAI_BASE_URL", value_name = "URL")]
    pub openai_base_url: Option<String>,

    /// Where Anthropic is reached; ANTHROPIC_BASE_URL works too. [default:
    /// https://api.anthropic.com]
    #[arg(long, env = "BATON_ANTHROPIC_BASE_URL", value_name = "URL")]
    pub anthropic_base_url: Option<String>,

    /// Where Google's Gemini API is reached. [default:
    /// https://generativelanguage.googleapis.com]
    #[arg(long, env = "BATON_GEMINI_BASE_URL", value_name = "URL")]
    pub gemini_base_url: Option<String>,

    /// Where Cohere is reached. [default: https://api.cohere.com]
    #[arg(long, env = "BATON_COHERE_BASE_URL", value_name = "URL")]
    pub cohere_base_url: Option<String>,

    /// OpenAI-compatible servers steps may name as `provider`, comma-separated `ID=BASE_URL`
    /// (e.g. `ollama=http://127.0.0.1:11434/v1,groq=https://api.groq.com/openai/v1`).
    #[arg(long, env = "BATON_LLM_SERVERS", value_name = "ID=URL,...")]
    pub llm_servers: Option<String>,

    /// Where Asana's API is reached. [default: https://app.asana.com/api/1.0]
    #[arg(long, env = "BATON_ASANA_BASE_URL", value_name = "URL")]
    pub asana_base_url: Option<String>,

    /// Where Calendly's API is reached. [default: https://api.calendly.com]
    #[arg(long, env = "BATON_CALENDLY_BASE_URL", value_name = "URL")]
    pub calendly_base_url: Option<String>,

    /// Where Slack's Web API is reached. [default: https://slack.com/api]
    #[arg(long, env = "BATON_SLACK_BASE_URL", value_name = "URL")]
    pub slack_base_url: Option<String>,

    /// Where the Gmail API is reached. [default: https://gmail.googleapis.com]
    #[arg(long, env = "BATON_GMAIL_BASE_URL", value_name = "URL")]
    pub gmail_base_url: Option<String>,

    /// Where the Google Calendar API is reached. [default: https://www.googleapis.com/calendar/v3]
    #[arg(long, env = "BATON_GOOGLE_CALENDAR_BASE_URL", value_name = "URL")]
    pub google_calendar_base_url: Option<String>,

    /// Where HubSpot's API is reached. [default: https://api.hubapi.com]
    #[arg(long, env = "BATON_HUBSPOT_BASE_URL", value_name = "URL")]
    pub hubspot_base_url: Option<String>,

    /// Where Notion's API is reached. [default: https://api.notion.com]
    #[arg(long, env = "BATON_NOTION_BASE_URL", value_name = "URL")]
    pub notion_base_url: Option<String>,

    /// Where Resend's API is reached. [default: https://api.resend.com]
    #[arg(long, env = "BATON_RESEND_BASE_URL", value_name = "URL")]
    pub resend_base_url: Option<String>,

    /// Where Stripe's API is reached. [default: https://api.stripe.com]
    #[arg(long, env = "BATON_STRIPE_BASE_URL", value_name = "URL")]
    pub stripe_base_url: Option<String>,

    /// Where Zapier's catch hooks are; a step's hook URL must be under it. [default: https://hooks.zapier.com]
    #[arg(long, env = "BATON_ZAPIER_BASE_URL", value_name = "URL")]
    pub zapier_base_url: Option<String>,

    /// Where Make's custom webhooks are; a step's hook URL must be under it. [default: https://hook.<zone>.make.com]
    #[arg(long, env = "BATON_MAKE_BASE_URL", value_name = "URL")]
    pub make_base_url: Option<String>,

    /// Redis for the counts that servers and workers share (the API's rate limits, each
    /// organization's calls to a service), redis://host:port. [default: in memory, per process]
    #[arg(
        long,
        env = "BATON_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,

    /// Milliseconds one jq program in a workflow may run before it is stopped. [default: 100]
    #[arg(long, env = "BATON_JQ_TIME_LIMIT", value_name = "MS")]
    pub jq_time_limit: Option<u64>,

    /// MiB of memory one jq program in a workflow may hold. [default: 64]
    #[arg(long, env = "BATON_JQ_MEMORY_LIMIT", value_name = "MIB")]
    pub jq_memory_limit: Option<u64>,

    /// Calls to services and models one run (with its sub-workflows) may have in flight at
    /// once. [default: 10]
    #[arg(long, env = "BATON_MAX_CONCURRENT_CALLS", value_name = "N")]
    pub max_concurrent_calls: Option<u32>,

    /// Loop items or parallel branches one step may run at once; the most a loop's
    /// `concurrency` may be. [default: 50]
    #[arg(long, env = "BATON_MAX_CONCURRENCY", value_name = "N")]
    pub max_concurrency: Option<u32>,

    /// Sub-workflow executions one run may start, over all its levels. [default: 100]
    #[arg(long, env = "BATON_MAX_SUB_WORKFLOW_RUNS", value_name = "N")]
    pub max_sub_workflow_runs: Option<u32>,

    /// The shortest time, in seconds, a schedule may leave between two runs. [default: 60]
    #[arg(long, env = "BATON_MIN_SCHEDULE_INTERVAL", value_name = "SECONDS")]
    pub min_schedule_interval: Option<u64>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Executions run at once by this process. [default: 16]
    #[arg(long, env = "BATON_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,

    /// Executions one organization may have running at once across all workers. [default: 32]
    #[arg(long, env = "BATON_ORG_CONCURRENCY", value_name = "N")]
    pub org_concurrency: Option<u32>,

    /// Seconds a claimed job stays this worker's without renewal; after a crash, others wait
    /// this long before taking its jobs over. [default: 30]
    #[arg(long, env = "BATON_LEASE_SECONDS", value_name = "SECONDS")]
    pub lease_seconds: Option<u64>,

    /// Seconds the steps in flight get to finish after SIGTERM or SIGINT before their jobs are
    /// handed back as they are. [default: 30]
    #[arg(long, env = "BATON_SHUTDOWN_TIMEOUT", value_name = "SECONDS")]
    pub shutdown_timeout: Option<u64>,

    /// Also serve Prometheus metrics, with no token, at http://ADDR/metrics: an address kept
    /// private (a container's own network, 127.0.0.1), e.g. `127.0.0.1:9464`. [default: off]
    #[arg(long, env = "BATON_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Serve the API only; run workflows in separate `baton worker` processes.
    #[arg(long, env = "BATON_NO_WORKER")]
    pub no_worker: bool,

    /// Executions run at once by the built-in worker. [default: 16]
    #[arg(long, env = "BATON_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,

    /// Executions one organization may have running at once across all workers. [default: 32]
    #[arg(long, env = "BATON_ORG_CONCURRENCY", value_name = "N")]
    pub org_concurrency: Option<u32>,

    /// Address to listen on, IP:PORT. [default: 127.0.0.1:8080]
    #[arg(long, env = "BATON_ADDR", value_name = "IP:PORT")]
    pub addr: Option<String>,

    /// Seconds that requests and workflow steps in flight get to finish after SIGTERM or
    /// SIGINT. [default: 30]
    #[arg(long, env = "BATON_SHUTDOWN_TIMEOUT", value_name = "SECONDS")]
    pub shutdown_timeout: Option<u64>,

    /// Where people reach this server, for links in mails and sign-in redirects; `https://...`
    /// turns on Secure cookies and HSTS. [default: http://ADDR]
    #[arg(long, env = "BATON_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// SMTP server for mail (smtp://host:port, smtps://user:pass@host). Without it, mail is
    /// written to the outbox folder in the data dir.
    #[arg(
        long,
        env = "BATON_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,

    /// The sender of mail. [default: Baton <baton@localhost>]
    #[arg(long, env = "BATON_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,

    /// Requests a minute per user or API key. [default: 100]
    #[arg(long, env = "BATON_RATE_LIMIT", value_name = "N")]
    pub rate_limit: Option<u32>,

    /// Requests a minute per client address to sign-up, sign-in and password reset. [default: 20]
    #[arg(long, env = "BATON_SIGN_IN_RATE_LIMIT", value_name = "N")]
    pub sign_in_rate_limit: Option<u32>,

    /// Calls a minute one webhook URL accepts. [default: 60000]
    #[arg(long, env = "BATON_HOOK_RATE_LIMIT", value_name = "N")]
    pub hook_rate_limit: Option<u32>,

    /// Hours a caller's Idempotency-Key (runs and webhooks) is remembered. [default: 24]
    #[arg(long, env = "BATON_IDEMPOTENCY_RETENTION", value_name = "HOURS")]
    pub idempotency_retention: Option<u64>,

    /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names
    /// the client; from any other peer the header is ignored.
    #[arg(long, env = "BATON_TRUSTED_PROXIES", value_name = "LIST")]
    pub trusted_proxies: Option<String>,

    /// Serve Prometheus metrics at /metrics to requests carrying `Authorization: Bearer TOKEN`
    /// (at least 16 characters); /metrics is off without it.
    #[arg(
        long,
        env = "BATON_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,

    /// Also serve Prometheus metrics, with no token, at http://ADDR/metrics: an address kept
    /// private (a container's own network, 127.0.0.1), e.g. `127.0.0.1:9464`. [default: off]
    #[arg(long, env = "BATON_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// Where the feedback people send from the app (a score, a problem, an idea) is also mailed,
    /// e.g. the operator's own address. [default: kept for the Owners only]
    #[arg(long, env = "BATON_FEEDBACK_EMAIL", value_name = "ADDRESS")]
    pub feedback_email: Option<String>,

    /// Sign in with Google: the OAuth client id.
    #[arg(long, env = "BATON_GOOGLE_CLIENT_ID", value_name = "ID")]
    pub google_client_id: Option<String>,

    /// Sign in with Google: the OAuth client secret.
    #[arg(
        long,
        env = "BATON_GOOGLE_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub google_client_secret: Option<String>,

    /// The OpenID provider to sign in with. [default: https://accounts.google.com]
    #[arg(long, env = "BATON_GOOGLE_ISSUER", value_name = "URL")]
    pub google_issuer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
