//! The workflow DSL: the JSON document a person writes or a template provides.
//!
//! These types are the document's shape, parsed from JSON and turned into a JSON Schema. Strings
//! in them may hold `{{ ... }}` templates; the engine compiles those once when the workflow is
//! loaded. A [`Step`] is its common fields (id, retry, timeout, on_error) plus a [`StepKind`],
//! chosen by the step's `type`.

mod duration;
mod kinds;
mod parse;
pub mod schema;
pub mod text;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use duration::{DurationError, DurationSpec};
pub use kinds::*;
pub use parse::{Problem, parse_workflow};

/// A whole workflow document.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowDefinition {
    pub header: WorkflowHeader,
    /// Run in order; each may be addressed by later ones as `{{step_id.field}}`.
    pub steps: Vec<Step>,
}

/// Everything in a workflow document but its steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowHeader {
    /// Stable id, unique within an organization, e.g. `wf_email_draft`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The author's own version label, e.g. `"1.0"`. Baton numbers saved versions itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionLabel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What starts the workflow; manual when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// The most time one execution may take, e.g. `"15m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
    /// The most executions of this workflow running at once, across all workers; the others
    /// wait in the queue, in order. `1` runs them one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<std::num::NonZeroU32>,
    /// Who is told when a run fails (after its retries) or waits for an approval, and how
    /// soon. The workflow's owner is told by e-mail unless this says `never` (or their own
    /// setting does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
}

/// A workflow's failure and approval notices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// `immediately` (the default: the first message at once, then at most one an hour for
    /// this workflow while it keeps failing), `hourly` (one digest an hour), or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<NotifyWhen>,
    /// More people to e-mail, besides the workflow's owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// A Slack channel to post in, e.g. `#ops` or `C0123456789`, with the organization's
    /// Slack connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    /// Which Slack connection to post with, by name; the organization's first when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_credential: Option<String>,
}

/// How soon people are told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyWhen {
    #[default]
    Immediately,
    Hourly,
    Never,
}

impl NotifyWhen {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Immediately => "immediately",
            Self::Hourly => "hourly",
            Self::Never => "never",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "immediately" => Some(Self::Immediately),
            "hourly" => Some(Self::Hourly),
            "never" => Some(Self::Never),
            _ => None,
        }
    }
}

/// A version label given as a string or a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VersionLabel {
    Text(String),
    Number(f64),
}

/// What starts a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Started by a person or an API call.
    Manual {},
    /// Started by a clock.
    Schedule {
        /// Cron expression with 5 or 6 fields, e.g. `"0 9 * * MON-FRI"`.
        cron: String,
        /// IANA time zone, e.g. `"Europe/Berlin"`; UTC when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
        /// What to do with times missed while Baton was down.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        missed: Option<MissedRuns>,
    },
    /// Started by an HTTP call to the workflow's hook URL.
    Webhook {
        /// Wait for the workflow and answer with its output.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        respond: Option<bool>,
        /// Whose signature scheme the hook's secret checks: Baton's own (`X-Baton-Signature`,
        /// the default) or `slack` (Slack's Events API: `X-Slack-Signature` over the
        /// timestamp and body, within five minutes; its URL check is answered, and a retried
        /// event runs once), `resend` (Resend's events, signed by Svix; a retried delivery
        /// runs once), `stripe` (Stripe's events, `Stripe-Signature` within five minutes; an
        /// event sent again runs once), `asana` (Asana's handshake sets the secret; its signed
        /// events run once), `hubspot` (X-HubSpot-Signature-v3 within five minutes; a delivery sent
        /// again runs once), `calendly` (Calendly-Webhook-Signature within five minutes; an event sent
        /// again runs once), or `header` (the secret itself in `X-Baton-Secret`, for Zapier and Make,
        /// which cannot sign).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verify: Option<HookScheme>,
    },
    /// Started by what is new at a service, which Baton asks every `every` (e.g. Gmail's
    /// `new_email`): one execution per new item, each once, with the item as `trigger`.
    Poll {
        /// The connector's service id, e.g. `gmail`.
        service: String,
        /// What the connector watches for, e.g. `new_email`.
        event: String,
        /// How often to ask, at least 10 s; `1m` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every: Option<DurationSpec>,
        /// Which of the organization's credentials for the service to use, by name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
        /// The event's settings (Gmail: `label`, `query`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inputs: Option<serde_json::Value>,
    },
}

/// A webhook signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookScheme {
    Baton,
    Slack,
    /// Resend's delivery events, signed by Svix (`svix-id`, `svix-timestamp`, `svix-signature`).
    Resend,
    /// Stripe's events (`Stripe-Signature: t=...,v1=...`).
    Stripe,
    /// Asana's events: the secret comes from Asana's `X-Hook-Secret` handshake, and each
    /// delivery is signed with it (`X-Hook-Signature`).
    Asana,
    /// HubSpot's events (`X-HubSpot-Signature-v3` over the method, URL, body and timestamp,
    /// under the app's client secret).
    Hubspot,
    /// Calendly's events (`Calendly-Webhook-Signature: t=...,v1=...`).
    Calendly,
    /// The hook's secret itself in an `X-Baton-Secret` header: for senders that cannot sign a
    /// call (Zapier, Make), over HTTPS only.
    Header,
}

impl HookScheme {
    /// The connector whose scheme it is; `None` for Baton's own.
    pub fn service(self) -> Option<&'static str> {
        match self {
            Self::Baton | Self::Header => None,
            Self::Slack => Some("slack"),
            Self::Resend => Some("resend"),
            Self::Stripe => Some("stripe"),
            Self::Asana => Some("asana"),
            Self::Hubspot => Some("hubspot"),
            Self::Calendly => Some("calendly"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissedRuns {
    Skip,
    RunOnce,
}

/// One step: the common fields and what the step does.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Unique within the workflow; later steps read the output as `{{id.field}}`.
    pub id: String,
    pub common: StepCommon,
    pub on_error: OnError,
    pub kind: StepKind,
}

/// The fields every step may have besides `id`, `type` and `on_error`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepCommon {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// The most time one attempt may take, e.g. `"30s"`; for an `approval`, how long to wait
    /// for an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
}

/// How a failing step is retried. Only transient errors are retried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3; 0 disables retrying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The first backoff; each later one doubles (default `"1s"`: 1 s, 2 s, 4 s, i.e. 2^n s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_delay: Option<DurationSpec>,
    /// The longest backoff (default `"5m"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<DurationSpec>,
}

/// What a step's failure does to the execution.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum OnError {
    /// Stop the execution (the default).
    #[default]
    Fail,
    /// Make the error the step's output and go on.
    Continue,
    /// Run these steps instead; the last one's output becomes the step's output.
    Fallback(Vec<Step>),
}
