//! `asana`: create, change and complete tasks, comment on them, list projects and a project's
//! tasks, find a person, and have Asana send a project's changes to a workflow's hook, through
//! Asana's API with a personal access token pasted in or a token from connecting with OAuth
//! (both `{"access_token": "..."}`). Asana wraps what it takes and gives in `{"data": ...}` and
//! answers errors as `{"errors": [{message, help}]}`.
//!
//! Its webhooks start with a handshake: Asana calls the hook with an `X-Hook-Secret`, which
//! the hook keeps as its secret and sends back; every event after that is signed with it
//! (`X-Hook-Signature`, HMAC-SHA256 of the body in hex).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, IncomingWebhook, Secret, WebhookOutcome};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, OAuthEndpoints, PasteToken,
    RateLimit, inputs, output_schema, text_or_null,
};

pub const DEFAULT_BASE_URL: &str = "https://app.asana.com/api/1.0";

/// The task fields every task action asks for.
const TASK_FIELDS: &str = "name,notes,completed,completed_at,due_on,due_at,assignee.name,assignee.email,permalink_url,projects.name,created_at,modified_at";

/// `create_task`: in a project, or in a workspace's My Tasks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    pub name: String,
    /// The project it goes in (its id, from the project's URL); or give `workspace_id`.
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The description.
    #[serde(default)]
    pub notes: Option<String>,
    /// Who does it: `me`, an email address or a user id.
    #[serde(default)]
    pub assignee: Option<String>,
    /// The day it is due, `2026-12-07`.
    #[serde(default)]
    pub due_on: Option<String>,
}

/// `update_task`: the fields given change; the rest stay.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    pub task_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub due_on: Option<String>,
    #[serde(default)]
    pub completed: Option<bool>,
}

/// `complete_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskId {
    pub task_id: String,
}

/// `add_comment`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddComment {
    pub task_id: String,
    pub text: String,
}

/// `list_projects`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProjects {
    /// The workspace's id; the connected person's first workspace when not given.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// Archived projects too.
    #[serde(default)]
    pub archived: bool,
}

/// `list_tasks`: a project's tasks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasks {
    pub project_id: String,
    /// Completed tasks too (only open ones when not given).
    #[serde(default)]
    pub include_completed: bool,
    /// At most this many (1 to 100; 100 when not given).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// `find_user`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindUser {
    /// An email address, `me`, or a user id.
    pub user: String,
}

/// `watch_project`: Asana sends the project's changes to a workflow's hook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchProject {
    pub project_id: String,
    /// The hook URL of a workflow whose trigger is `{"type": "webhook", "verify": "asana"}`,
    /// switched on (Asana calls it at once to agree on a secret).
    pub hook_url: String,
}

fn task_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("name", text_or_null()),
        ("notes", text_or_null()),
        ("completed", json!({"type": "boolean"})),
        ("due_on", text_or_null()),
        ("assignee", text_or_null()),
        ("assignee_email", text_or_null()),
        ("url", text_or_null()),
        (
            "projects",
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        ("created_at", text_or_null()),
        ("modified_at", text_or_null()),
    ])
}

fn list_of(field: &str, item: Value) -> Value {
    output_schema(&[
        (field, json!({"type": "array", "items": item})),
        ("count", json!({"type": "integer"})),
    ])
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "asana",
    name: "Asana",
    category: Category::Business,
    auth: AuthKind::OAuth2(OAuthEndpoints {
        authorize_url: "https://app.asana.com/-/oauth_authorize",
        token_url: "https://app.asana.com/-/oauth_token",
        scopes: vec!["default".into()],
        scope_separator: " ",
        consent_params: &[],
        app_of: None,
        paste: Some(PasteToken {
            label: "Personal access token",
            hint: "In Asana: your profile picture, Settings, Apps, Manage developer apps, Create new token.",
        }),
        secret_in_body: false,
    }),
    actions: vec![
        ActionDeclaration {
            id: "create_task",
            description: "Add a task to a project (or My Tasks), with notes, who does it and when.",
            input_schema: schemars::schema_for!(CreateTask).to_value(),
            output_schema: task_schema(),
            example: json!({"name": "Call Ann about the quote", "project_id": "1204000000000001", "notes": "She asked for 50 units.", "assignee": "me", "due_on": "2026-12-07"}),
            writes: true,
        },
        ActionDeclaration {
            id: "update_task",
            description: "Change a task's name, notes, assignee, due day, or mark it done.",
            input_schema: schemars::schema_for!(UpdateTask).to_value(),
            output_schema: task_schema(),
            example: json!({"task_id": "1204000000000042", "due_on": "2026-12-09", "assignee": "bob@acme.com"}),
            writes: true,
        },
        ActionDeclaration {
            id: "complete_task",
            description: "Mark a task done.",
            input_schema: schemars::schema_for!(TaskId).to_value(),
            output_schema: task_schema(),
            example: json!({"task_id": "1204000000000042"}),
            writes: true,
        },
        ActionDeclaration {
            id: "add_comment",
            description: "Comment on a task.",
            input_schema: schemars::schema_for!(AddComment).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("text", text_or_null()),
                ("created_at", text_or_null()),
            ]),
            example: json!({"task_id": "1204000000000042", "text": "The customer confirmed by email."}),
            writes: true,
        },
        ActionDeclaration {
            id: "list_projects",
            description: "The projects of a workspace.",
            input_schema: schemars::schema_for!(ListProjects).to_value(),
            output_schema: list_of(
                "projects",
                output_schema(&[("id", json!({"type": "string"})), ("name", text_or_null())]),
            ),
            example: json!({}),
            writes: false,
        },
        ActionDeclaration {
            id: "list_tasks",
            description: "A project's tasks (open ones, or all), with due days and who does them.",
            input_schema: schemars::schema_for!(ListTasks).to_value(),
            output_schema: list_of("tasks", task_schema()),
            example: json!({"project_id": "1204000000000001"}),
            writes: false,
        },
        ActionDeclaration {
            id: "find_user",
            description: "A person in Asana by email: their id and name.",
            input_schema: schemars::schema_for!(FindUser).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("name", text_or_null()),
                ("email", text_or_null()),
            ]),
            example: json!({"user": "bob@acme.com"}),
            writes: false,
        },
        ActionDeclaration {
            id: "watch_project",
            description: "Have Asana send a project's changes to a workflow's hook URL.",
            input_schema: schemars::schema_for!(WatchProject).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("active", json!({"type": "boolean"})),
            ]),
            example: json!({"project_id": "1204000000000001", "hook_url": "https://baton.acme.com/hooks/3kq1n0ZbQ2x8Vh5yT7wR4uLmP9sD6fGa"}),
            writes: true,
        },
    ],
    triggers: Vec::new(),
    // Asana allows 150 requests a minute on its free plan (1500 on paid ones): the lower.
    rate_limit: Some(RateLimit {
        requests: 150,
        per: Duration::from_secs(60),
    }),
});

fn task_out(task: &Value) -> Value {
    let projects: Vec<Value> = task["projects"]
        .as_array()
        .map(|projects| {
            projects
                .iter()
                .map(|project| project["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": task["gid"],
        "name": task["name"],
        "notes": task["notes"],
        "completed": task["completed"].as_bool().unwrap_or(false),
        "due_on": task["due_on"],
        "assignee": task["assignee"]["name"],
        "assignee_email": task["assignee"]["email"],
        "url": task["permalink_url"],
        "projects": projects,
        "created_at": task["created_at"],
        "modified_at": task["modified_at"],
    })
}

/// What Asana answered (its `data`), or the failure classified for the retry policy.
fn answered(
    what: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
) -> Result<Value, StepError> {
    if (200..300).contains(&status) {
        return Ok(body["data"].clone());
    }
    let reasons: Vec<&str> = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|error| error["message"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let message = format!(
        "asana answered HTTP {status} to {what}: {}",
        if reasons.is_empty() {
            "no reason given".to_owned()
        } else {
            reasons.join("; ")
        }
    );
    Err(match status {
        429 => {
            let error = StepError::transient(message);
            match retry_after {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            }
        }
        401 => StepError::unauthorized(format!(
            "{message} (check the asana credential: the token may have been revoked)"
        )),
        402 => StepError::permanent(format!("{message}: this needs a paid Asana plan")),
        500.. => StepError::transient(message),
        _ => StepError::permanent(message),
    })
}

fn token(secret: Option<&Secret>) -> Result<&str, StepError> {
    secret
        .and_then(|secret| secret.text("access_token"))
        .ok_or_else(|| {
            StepError::permanent(
                "there is no asana credential: connect Asana, or store a personal access token as `access_token`",
            )
        })
}

pub struct Asana {
    client: reqwest::Client,
    base_url: String,
}

impl Asana {
    pub fn new(base_url: Option<&str>) -> Self {
        Self {
            // Asana calls the hook before it answers a new webhook: give it time.
            client: crate::api_client(Duration::from_secs(60)),
            base_url: crate::base_url(base_url, DEFAULT_BASE_URL),
        }
    }

    async fn send(
        &self,
        what: &str,
        token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        data: Option<Value>,
    ) -> Result<Value, StepError> {
        let body = data.map(|data| json!({"data": data}));
        let request = crate::bearer_request(
            &self.client,
            method,
            format!("{}{path}", self.base_url),
            token,
            query,
            body.as_ref(),
        );
        let (status, retry_after, body) = crate::exchange("asana", what, request).await?;
        answered(what, status, retry_after, body)
    }

    async fn change_task(
        &self,
        token: &str,
        task_id: &str,
        data: Value,
    ) -> Result<Value, StepError> {
        let task = self
            .send(
                "tasks.update",
                token,
                reqwest::Method::PUT,
                &format!("/tasks/{}", crate::segment(task_id)),
                &[("opt_fields", TASK_FIELDS.to_owned())],
                Some(data),
            )
            .await?;
        Ok(task_out(&task))
    }
}

#[async_trait]
impl Connector for Asana {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let token = token(call.secret.as_ref())?;
        let fields = || vec![("opt_fields", TASK_FIELDS.to_owned())];
        match call.action.as_str() {
            "create_task" => {
                let input: CreateTask = inputs(call)?;
                let mut data = json!({"name": input.name});
                match (&input.project_id, &input.workspace_id) {
                    (Some(project), _) => data["projects"] = json!([project]),
                    (None, Some(workspace)) => data["workspace"] = json!(workspace),
                    (None, None) => {
                        return Err(StepError::permanent(
                            "asana create_task inputs: give `project_id` (or `workspace_id` for My Tasks)",
                        ));
                    }
                }
                for (field, value) in [
                    ("notes", &input.notes),
                    ("assignee", &input.assignee),
                    ("due_on", &input.due_on),
                ] {
                    if let Some(value) = value {
                        data[field] = json!(value);
                    }
                }
                let task = self
                    .send(
                        "tasks.create",
                        token,
                        reqwest::Method::POST,
                        "/tasks",
                        &fields(),
                        Some(data),
                    )
                    .await?;
                Ok(task_out(&task))
            }
            "update_task" => {
                let input: UpdateTask = inputs(call)?;
                let mut data = json!({});
                for (field, value) in [
                    ("name", &input.name),
                    ("notes", &input.notes),
                    ("assignee", &input.assignee),
                    ("due_on", &input.due_on),
                ] {
                    if let Some(value) = value {
                        data[field] = json!(value);
                    }
                }
                if let Some(completed) = input.completed {
                    data["completed"] = json!(completed);
                }
                if data.as_object().is_some_and(serde_json::Map::is_empty) {
                    return Err(StepError::permanent(
                        "asana update_task inputs: nothing to change; give name, notes, assignee, due_on or completed",
                    ));
                }
                self.change_task(token, &input.task_id, data).await
            }
            "complete_task" => {
                let input: TaskId = inputs(call)?;
                self.change_task(token, &input.task_id, json!({"completed": true}))
                    .await
            }
            "add_comment" => {
                let input: AddComment = inputs(call)?;
                let story = self
                    .send(
                        "stories.create",
                        token,
                        reqwest::Method::POST,
                        &format!("/tasks/{}/stories", crate::segment(&input.task_id)),
                        &[],
                        Some(json!({"text": input.text})),
                    )
                    .await?;
                Ok(
                    json!({"id": story["gid"], "text": story["text"], "created_at": story["created_at"]}),
                )
            }
            "list_projects" => {
                let input: ListProjects = inputs(call)?;
                let workspace = match input.workspace_id {
                    Some(workspace) => workspace,
                    None => {
                        let me = self
                            .send(
                                "users.me",
                                token,
                                reqwest::Method::GET,
                                "/users/me",
                                &[("opt_fields", "workspaces".to_owned())],
                                None,
                            )
                            .await?;
                        me["workspaces"][0]["gid"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    }
                };
                let projects = self
                    .send(
                        "projects.list",
                        token,
                        reqwest::Method::GET,
                        "/projects",
                        &[
                            ("workspace", workspace),
                            ("archived", input.archived.to_string()),
                            ("limit", "100".to_owned()),
                        ],
                        None,
                    )
                    .await?;
                let projects: Vec<Value> = projects
                    .as_array()
                    .map(|projects| {
                        projects
                            .iter()
                            .map(|project| json!({"id": project["gid"], "name": project["name"]}))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(json!({"count": projects.len(), "projects": projects}))
            }
            "list_tasks" => {
                let input: ListTasks = inputs(call)?;
                let mut query = fields();
                query.push((
                    "limit",
                    input.limit.unwrap_or(100).clamp(1, 100).to_string(),
                ));
                if !input.include_completed {
                    // Asana's way to say "only tasks not completed yet".
                    query.push(("completed_since", "now".to_owned()));
                }
                let tasks = self
                    .send(
                        "tasks.list",
                        token,
                        reqwest::Method::GET,
                        &format!("/projects/{}/tasks", crate::segment(&input.project_id)),
                        &query,
                        None,
                    )
                    .await?;
                let tasks: Vec<Value> = tasks
                    .as_array()
                    .map(|tasks| tasks.iter().map(task_out).collect())
                    .unwrap_or_default();
                Ok(json!({"count": tasks.len(), "tasks": tasks}))
            }
            "find_user" => {
                let input: FindUser = inputs(call)?;
                let user = self
                    .send(
                        "users.get",
                        token,
                        reqwest::Method::GET,
                        &format!("/users/{}", crate::segment(&input.user)),
                        &[("opt_fields", "name,email".to_owned())],
                        None,
                    )
                    .await?;
                Ok(json!({"id": user["gid"], "name": user["name"], "email": user["email"]}))
            }
            "watch_project" => {
                let input: WatchProject = inputs(call)?;
                let webhook = self
                    .send(
                        "webhooks.create",
                        token,
                        reqwest::Method::POST,
                        "/webhooks",
                        &[],
                        Some(json!({"resource": input.project_id, "target": input.hook_url})),
                    )
                    .await?;
                Ok(
                    json!({"id": webhook["gid"], "active": webhook["active"].as_bool().unwrap_or(false)}),
                )
            }
            other => Err(StepError::permanent(format!(
                "asana has no action {other:?}"
            ))),
        }
    }

    /// Asana's handshake (`X-Hook-Secret`, kept as the hook's secret and sent back), then
    /// events signed with it (`X-Hook-Signature`). A delivery with no events is Asana's
    /// heartbeat: answered, nothing run. A delivery Asana sends again runs once.
    fn webhook(&self, incoming: &IncomingWebhook<'_>) -> Result<WebhookOutcome, String> {
        if let Some(offered) = incoming.header("x-hook-secret") {
            if incoming.secret.is_some() {
                return Err(
                    "this hook already has an Asana secret: remove it (the workflow's page, Remove the secret) before connecting another Asana webhook"
                        .into(),
                );
            }
            return Ok(WebhookOutcome::Adopt {
                secret: offered.to_owned(),
                echo_header: "X-Hook-Secret",
            });
        }
        let secret = incoming.secret.ok_or(
            "this hook has no Asana secret yet: Asana sets it when the webhook is made (the asana watch_project action)",
        )?;
        if !crate::webhook::signature_matches(
            secret,
            incoming.body,
            incoming.header("x-hook-signature"),
            "",
        ) {
            return Err(
                "the request is not signed with this hook's Asana secret (X-Hook-Signature)".into(),
            );
        }
        let delivery: Value = serde_json::from_slice(incoming.body).unwrap_or_default();
        if delivery["events"].as_array().is_none_or(Vec::is_empty) {
            return Ok(WebhookOutcome::Answer(json!({})));
        }
        Ok(WebhookOutcome::Run {
            delivery_id: Some(crate::webhook::body_delivery("asana", incoming.body)),
        })
    }

    /// `GET /users/me`: whose token it is.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let token = token(Some(secret))?;
        let me = self
            .send(
                "users.me",
                token,
                reqwest::Method::GET,
                "/users/me",
                &[("opt_fields", "name,email,workspaces.name".to_owned())],
                None,
            )
            .await?;
        Ok(
            json!({"account": me["email"], "name": me["name"], "workspace": me["workspaces"][0]["name"]}),
        )
    }
}
