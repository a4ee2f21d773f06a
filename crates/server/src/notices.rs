//! Telling people that a run failed (after its retries) or waits for their approval: by e-mail
//! to the workflow's owner and the addresses the workflow names, and in a Slack channel when it
//! names one.
//!
//! Every few seconds each `baton serve` looks for such events in the database and claims each
//! one there (the first server to claim it tells everyone; see `NoticeStore`). A message is
//! then owed to each recipient, due at once or when its digest is:
//!
//! - `immediately` (the default): the first at once; while the workflow keeps failing, the rest
//!   wait until an hour after the last message to that recipient and go together, so a
//!   workflow failing every minute sends one message an hour, not sixty;
//! - `hourly`: everything of the hour in one digest, at the next full hour;
//! - `never`: nothing.
//!
//! The workflow's `notify.when` and each person's own setting both apply; the quieter wins.
//! Messages owed are kept in the database, so a restart loses none; a message that could not
//! be sent for a passing reason is tried again on the next round.

use std::collections::BTreeMap;
use std::time::Duration;

use baton_core::dsl::{Notify, NotifyWhen};
use baton_engine::connector::ActionCall;
use baton_store::{Notice, NoticeEvent, StoreError};
use chrono::{DateTime, DurationRound, Utc};
use serde_json::{Value, json};

use crate::AppState;
use crate::mail::{Mail, MailError};

/// At most one message an hour per workflow and recipient while a workflow keeps failing.
pub const INTERVAL: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How far back a notifier looks for events it has not claimed (a server that was down longer
/// does not announce old failures on its return).
const LOOK_BACK: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How long sent messages are kept (they hold the "last sent" that spaces out the next).
const KEEP_SENT: chrono::TimeDelta = chrono::TimeDelta::days(30);
const BATCH: u32 = 200;

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Events this notifier claimed.
    pub claimed: usize,
    /// Messages sent (a digest counts once).
    pub sent: usize,
}

pub struct Notifier {
    state: AppState,
    /// When this notifier last forgot old messages (an hourly chore, not every round's).
    forgot_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Notifier {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            forgot_at: std::sync::Mutex::default(),
        }
    }

    /// Rounds every `every` until `stop` turns true.
    pub async fn run(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.round(Utc::now()).await {
                tracing::warn!(%error, "the notifier could not finish its round; it tries again");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Claims the new events, owes their messages, and sends what is due at `now`.
    pub async fn round(&self, now: DateTime<Utc>) -> Result<Round, StoreError> {
        let mut round = Round::default();
        let store = &self.state.store;
        for event in store.unclaimed_events(now - LOOK_BACK, BATCH).await? {
            if !store.claim_event(&event, now).await? {
                continue;
            }
            round.claimed += 1;
            self.owe(&event, now).await?;
        }
        let due = store.take_due_notices(now, BATCH).await?;
        let mut by_recipient: BTreeMap<(baton_core::OrgId, String), Vec<Notice>> = BTreeMap::new();
        for notice in due {
            by_recipient
                .entry((notice.org_id, notice.recipient.clone()))
                .or_default()
                .push(notice);
        }
        for ((org, recipient), notices) in by_recipient {
            match self.send(org, &recipient, &notices).await {
                Ok(()) => round.sent += 1,
                Err(Failure::Lasting(why)) => {
                    // Sending again would fail the same way: logged once, and let go.
                    tracing::warn!(recipient = %crate::redact::email(&recipient), %why, "a notice cannot be delivered; it is dropped");
                }
                Err(Failure::Passing(why)) => {
                    tracing::warn!(recipient = %crate::redact::email(&recipient), %why, "a notice could not be sent; it is tried again");
                    let ids: Vec<uuid::Uuid> = notices.iter().map(|notice| notice.id).collect();
                    store.release_notices(&ids).await?;
                }
            }
        }
        let forget = {
            let mut forgot_at = self
                .forgot_at
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let due = forgot_at.is_none_or(|at| now - at >= chrono::TimeDelta::hours(1));
            if due {
                *forgot_at = Some(now);
            }
            due
        };
        if forget {
            store.forget_notices(now - KEEP_SENT).await?;
        }
        Ok(round)
    }

    /// Keeps the message each recipient of `event` is owed, due as their setting says.
    async fn owe(&self, event: &NoticeEvent, now: DateTime<Utc>) -> Result<(), StoreError> {
        let store = &self.state.store;
        let Some(workflow) = store.workflow(event.org_id, event.workflow_id).await? else {
            return Ok(());
        };
        let notify: Notify = store
            .workflow_version(event.org_id, workflow.id, workflow.current_version)
            .await?
            .and_then(|version| version.definition.get("notify").cloned())
            .and_then(|notify| serde_json::from_value(notify).ok())
            .unwrap_or_default();
        let when = notify.when.unwrap_or_default();
        if when == NotifyWhen::Never {
            return Ok(());
        }
        let mut recipients: Vec<(String, NotifyWhen)> = Vec::new();
        let mut emails: Vec<String> = Vec::new();
        if let Some(owner) = workflow.created_by
            && let Some(user) = store.user(owner).await?
        {
            emails.push(user.email);
        }
        emails.extend(notify.emails.iter().cloned());
        for email in emails {
            let email = email.trim().to_lowercase();
            if recipients
                .iter()
                .any(|(known, _)| *known == format!("email:{email}"))
            {
                continue;
            }
            let own = match store.user_by_email(&email).await? {
                Some(user) => {
                    NotifyWhen::parse(&store.user_notify(user.id).await?).unwrap_or_default()
                }
                None => NotifyWhen::Immediately,
            };
            recipients.push((format!("email:{email}"), quieter(when, own)));
        }
        if let Some(channel) = &notify.slack_channel {
            let recipient = match &notify.slack_credential {
                Some(name) => format!("slack:{name}:{channel}"),
                None => format!("slack:{channel}"),
            };
            recipients.push((recipient, when));
        }
        let detail = plain_words(event, &workflow.name);
        for (recipient, when) in recipients {
            let due = match when {
                NotifyWhen::Never => continue,
                NotifyWhen::Hourly => match store.next_notice_due(workflow.id, &recipient).await? {
                    Some(due) => due,
                    None => next_hour(now),
                },
                NotifyWhen::Immediately => {
                    match store.next_notice_due(workflow.id, &recipient).await? {
                        Some(due) => due,
                        None => match store.last_notice_sent(workflow.id, &recipient).await? {
                            Some(last) if last + INTERVAL > now => last + INTERVAL,
                            _ => now,
                        },
                    }
                }
            };
            store
                .add_notice(&Notice {
                    id: uuid::Uuid::now_v7(),
                    org_id: event.org_id,
                    workflow_id: workflow.id,
                    execution_id: event.execution_id,
                    event: event.event.clone(),
                    recipient,
                    detail: detail.clone(),
                    due_at: due,
                    created_at: now,
                })
                .await?;
        }
        Ok(())
    }

    async fn send(
        &self,
        org: baton_core::OrgId,
        recipient: &str,
        notices: &[Notice],
    ) -> Result<(), Failure> {
        let base = &self.state.config.public_url;
        let link = |notice: &Notice| format!("{base}/executions/{}", notice.execution_id);
        if let Some(address) = recipient.strip_prefix("email:") {
            let (subject, body) = match notices {
                [one] => (
                    subject_of(one),
                    format!("{}\n\nSee the run: {}\n", one.detail, link(one)),
                ),
                many => (
                    format!("Baton: {} runs need your attention", many.len()),
                    many.iter()
                        .map(|notice| format!("- {}\n  {}\n", notice.detail, link(notice)))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            };
            let body = format!(
                "{body}\nYou get this because you own the workflow or it names you. Choose how \
                 often Baton writes to you under Settings, My account: {base}/settings\n"
            );
            return self
                .state
                .config
                .mailer
                .send(Mail {
                    to: address.to_owned(),
                    subject,
                    body,
                })
                .await
                .map_err(|error| match error {
                    MailError::Address(_) | MailError::Settings(_) => {
                        Failure::Lasting(error.to_string())
                    }
                    other => Failure::Passing(other.to_string()),
                });
        }
        if let Some(target) = recipient.strip_prefix("slack:") {
            let (credential, channel) = match target.rsplit_once(':') {
                Some((credential, channel)) => (Some(credential), channel),
                None => (None, target),
            };
            let text = notices
                .iter()
                .map(|notice| format!("{} <{}|See the run>", notice.detail, link(notice)))
                .collect::<Vec<_>>()
                .join("\n");
            let runtime = &self.state.runtime;
            let secret = baton_engine::connector::CredentialSource::credential(
                runtime.credentials.as_ref(),
                org,
                "slack",
                credential,
            )
            .await
            .map_err(|error| Failure::Passing(error.message))?
            .ok_or_else(|| {
                Failure::Lasting("the organization has no Slack connection of that name".into())
            })?;
            let call = ActionCall {
                org_id: org,
                service: "slack".into(),
                action: "post_message".into(),
                inputs: json!({"channel": channel, "text": text}),
                credential: credential.map(str::to_owned),
                idempotency_key: format!("notice-{}", notices[0].id),
                secret: Some(secret),
            };
            return runtime
                .connectors
                .call(call)
                .await
                .map(drop)
                .map_err(|error| {
                    if error.class.is_retryable() {
                        Failure::Passing(error.message)
                    } else {
                        Failure::Lasting(error.message)
                    }
                });
        }
        Err(Failure::Lasting(format!("unknown recipient {recipient:?}")))
    }
}

enum Failure {
    /// Worth trying again next round.
    Passing(String),
    /// Would fail the same way again.
    Lasting(String),
}

/// The quieter of two settings.
fn quieter(a: NotifyWhen, b: NotifyWhen) -> NotifyWhen {
    let rank = |when: NotifyWhen| match when {
        NotifyWhen::Immediately => 0,
        NotifyWhen::Hourly => 1,
        NotifyWhen::Never => 2,
    };
    if rank(a) >= rank(b) { a } else { b }
}

/// The next full hour (UTC) after `now`.
fn next_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(chrono::TimeDelta::hours(1))
        .unwrap_or(now)
        + chrono::TimeDelta::hours(1)
}

fn subject_of(notice: &Notice) -> String {
    notice
        .detail
        .split_once(": ")
        .map(|(head, _)| head.to_owned())
        .unwrap_or_else(|| "Baton: a run needs your attention".into())
}

/// What happened, in words a person reads: `"NAME" failed: the step "x" ...`.
fn plain_words(event: &NoticeEvent, workflow: &str) -> String {
    if let Some(step) = event.event.strip_prefix("approval:") {
        let message = event
            .detail
            .get("message")
            .and_then(Value::as_str)
            .filter(|message| !message.trim().is_empty())
            .map(|message| format!(" It asks: {message}"))
            .unwrap_or_default();
        return format!(
            "\"{workflow}\" waits for an approval: the step \"{step}\" waits for someone to approve or reject it.{message}"
        );
    }
    let error = &event.detail;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("it stopped with an error");
    let step = error
        .get("step")
        .and_then(Value::as_str)
        .map(|step| format!("the step \"{step}\" failed: "))
        .unwrap_or_default();
    let advice = match error.get("class").and_then(Value::as_str) {
        Some("transient") => {
            " Baton tried it again several times; the service seemed to be unavailable."
        }
        Some("permanent") => {
            " Trying again would not help: check the step's settings or its connection under Integrations."
        }
        Some("system") => " Baton itself could not go on; tell whoever runs Baton.",
        _ => "",
    };
    let message = message.trim_end_matches('.');
    format!("\"{workflow}\" failed: {step}{message}.{advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, detail: Value) -> NoticeEvent {
        NoticeEvent {
            org_id: baton_core::OrgId::new(),
            workflow_id: baton_core::WorkflowId::new(),
            execution_id: baton_core::ExecutionId::new(),
            event: kind.into(),
            detail,
            at: Utc::now(),
        }
    }

    #[test]
    fn failures_and_approvals_are_said_in_plain_words() {
        assert_eq!(
            plain_words(
                &event(
                    "failed",
                    json!({"step": "post", "class": "permanent", "message": "Slack said channel_not_found."})
                ),
                "Hot leads"
            ),
            "\"Hot leads\" failed: the step \"post\" failed: Slack said channel_not_found. Trying \
             again would not help: check the step's settings or its connection under Integrations."
        );
        assert_eq!(
            plain_words(
                &event(
                    "approval:refund",
                    json!({"message": "Refund $40 to Ann?", "approvers": ["admin"]})
                ),
                "Refunds"
            ),
            "\"Refunds\" waits for an approval: the step \"refund\" waits for someone to approve or \
             reject it. It asks: Refund $40 to Ann?"
        );
    }

    #[test]
    fn the_quieter_setting_wins_and_digests_go_on_the_hour() {
        use NotifyWhen::*;
        assert_eq!(quieter(Immediately, Hourly), Hourly);
        assert_eq!(quieter(Never, Immediately), Never);
        assert_eq!(quieter(Immediately, Immediately), Immediately);
        let now: DateTime<Utc> = "2026-12-04T10:17:03Z".parse().unwrap();
        assert_eq!(next_hour(now).to_rfc3339(), "2026-12-04T11:00:00+00:00");
    }
}
