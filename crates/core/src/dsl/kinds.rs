//! The step kinds. Each is a struct of the fields its `type` allows; nested step lists
//! (`then`, `else`, `steps`, `branches`, `fallback`) are parsed by [`super::parse`] so that a
//! problem deep inside one is reported at its own path.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DurationSpec, Step};

/// What a step does, by its `type`.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    Llm(LlmStep),
    Integration(IntegrationStep),
    Transformation(TransformationStep),
    Conditional {
        spec: ConditionalStep,
        then: Vec<Step>,
        otherwise: Vec<Step>,
    },
    Loop {
        spec: LoopStep,
        steps: Vec<Step>,
    },
    Parallel {
        spec: ParallelStep,
        branches: Vec<Vec<Step>>,
    },
    Approval(ApprovalStep),
    Delay(DelayStep),
    SubWorkflow(SubWorkflowStep),
    Agent(AgentStep),
}

impl StepKind {
    /// Every `type` name, in the order the documentation lists them.
    pub const TYPES: [&'static str; 10] = [
        "llm",
        "integration",
        "transformation",
        "conditional",
        "loop",
        "parallel",
        "approval",
        "delay",
        "sub_workflow",
        "agent",
    ];

    /// The fields of a kind that hold nested step lists.
    pub fn nested_fields(kind: &str) -> &'static [&'static str] {
        match kind {
            "conditional" => &["then", "else"],
            "loop" => &["steps"],
            "parallel" => &["branches"],
            _ => &[],
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Llm(_) => "llm",
            Self::Integration(_) => "integration",
            Self::Transformation(_) => "transformation",
            Self::Conditional { .. } => "conditional",
            Self::Loop { .. } => "loop",
            Self::Parallel { .. } => "parallel",
            Self::Approval(_) => "approval",
            Self::Delay(_) => "delay",
            Self::SubWorkflow(_) => "sub_workflow",
            Self::Agent(_) => "agent",
        }
    }
}

/// A call to a language model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmStep {
    /// The model, e.g. `gpt-4o`, `claude-sonnet-4-5`, `gemini-2.5-flash`, `command-r`. The
    /// provider is inferred from the name unless `provider` says it.
    pub model: String,
    /// `openai`, `anthropic`, `google`, `cohere`, or the id of an OpenAI-compatible server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The user message; a template.
    pub prompt: String,
    /// The system message; a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u32>,
    /// `json` asks the model for a JSON object and parses it into the output's `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// A JSON Schema (its root an object) the answer must match, e.g. `{"type": "object",
    /// "properties": {"draft": {"type": "string"}}, "required": ["draft"]}`. Each provider is
    /// asked in its own way to answer in that shape; the answer is checked, and asked for once
    /// more with what was wrong when it does not match. Its fields are then the step's own
    /// (`{{step.draft}}`) and under `json` (`{{step.json.draft}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Extra values for the prompt's templates, available as `{{inputs.name}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
    /// Models to ask in turn when the model's provider fails for a passing reason (a rate
    /// limit, an outage, its circuit open), e.g. `["claude-sonnet-4-5", "ollama/llama3.2"]`:
    /// `provider/model` (any provider, a configured server too), or a model whose provider
    /// its name tells. The step's output says which answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    Json,
}

/// A model that works towards the prompt's goal with tools: connector actions and other
/// workflows the author lists. Each of its turns and each tool call is a step of its own in
/// the execution's record (`agent[2].search_contacts`), checkpointed and retried like one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentStep {
    /// The model, e.g. `gpt-4o`, `claude-sonnet-4-5`, `gemini-2.5-flash` (OpenAI, Anthropic
    /// and Google models call tools; so do OpenAI-compatible servers whose models can).
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The goal; a template.
    pub prompt: String,
    /// The system message; a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// What the model may use.
    pub tools: Vec<AgentTool>,
    /// The most model turns before the step fails (default 8, at most 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50))]
    pub max_iterations: Option<u32>,
    /// The most the step may spend on its model turns, in US dollars; it fails once past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u32>,
    /// Models asked in turn when the model's provider fails for a passing reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
}

/// One tool of an agent: a connector action (`service` and `action`) or another workflow
/// (`workflow`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentTool {
    /// What the model calls it: letters, digits and `_`, e.g. `search_contacts`; also its
    /// step's id in the record. The action's (or workflow's) id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does, for the model; the action's own description when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The stored credential to use; the service's only one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Inputs the author fixes, which the model neither sees nor changes (e.g. a channel);
    /// strings may be templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
    /// Another workflow to run with the model's arguments as its trigger data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The JSON Schema of the arguments the model gives (a workflow tool's; an action's
    /// input schema when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// A person approves each call before it is made (the execution waits in WAITING).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approval: bool,
}

/// A call to a connected service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationStep {
    /// The connector's service id, e.g. `gmail`.
    pub service: String,
    /// The connector's action, e.g. `read_email`.
    pub action: String,
    /// The action's inputs; strings may be templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
    /// The name or id of the stored credential to use; the service's only one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Reshaping data without calling anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformationStep {
    pub action: TransformAction,
    /// The action's inputs (see each action); strings may be templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
}

/// The transformations. Each reads named fields of `inputs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransformAction {
    /// `text`: the first JSON object or array in it (also inside Markdown code fences); its
    /// fields become the output.
    ExtractJson,
    /// `program`: a jq program, run over `data` (default: all of `inputs` but `program`).
    Jq,
    /// `template`: text to render; output `{text}`.
    Template,
    /// The inputs themselves, rendered, become the output.
    Set,
    /// `text`, `separator` (default ","): output `{items}`.
    Split,
    /// `items`, `separator` (default ","): output `{text}`.
    Join,
    /// `text`, optional `format` (strftime; RFC 3339 when absent), `timezone`: output
    /// `{iso, unix, date, time}`.
    ParseDate,
    /// `date` (RFC 3339 or unix seconds), `format` (strftime), optional `timezone`: output `{text}`.
    FormatDate,
    /// `expression`: arithmetic over earlier values, e.g. `step_1.price * 1.2`; output `{result}`.
    Calculate,
    /// `items`, `condition` (an expression over `item`): output `{items}`.
    Filter,
    /// `items`, optional `by` (a field), `order` (`asc`/`desc`): output `{items}`.
    Sort,
    /// `items`, optional `by` (a field): output `{items}`, first occurrences kept.
    Deduplicate,
}

/// Choosing between two step lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionalStep {
    /// An expression, e.g. `step_1.score > 80`; true runs `then`, false runs `else`.
    pub condition: String,
}

/// Running steps once per item of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoopStep {
    /// An expression giving the list, e.g. `step_1.messages`, or a literal list.
    pub items: Value,
    /// The item's name inside the loop (default `item`).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub item_name: Option<String>,
    /// How many items run at once (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub concurrency: Option<u32>,
    /// The most items the loop accepts; more is an error (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_items: Option<u32>,
}

/// Running step lists at the same time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParallelStep {
    /// `fail_fast` (default) stops the other branches at the first failure; `wait_all` lets
    /// every branch finish before failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ParallelMode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParallelMode {
    FailFast,
    WaitAll,
}

/// A person's decision: the execution waits until someone answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStep {
    /// What the approver sees; a template.
    pub message: String,
    /// Who may answer; any Owner or Admin when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Approvers>,
    /// What happens when nobody answers within the step's `timeout` (e.g. `"2d"`; without one
    /// the step waits forever): `fail` (default), `continue`, or answer `default_answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<ApprovalTimeout>,
    /// The answer used when `on_timeout` is `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_answer: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvers {
    /// Anyone with this role or a stronger one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::Role>,
    /// These users, by email.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalTimeout {
    Fail,
    Continue,
    Default,
}

/// Waiting, durably: the wait survives a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayStep {
    /// How long to wait, e.g. `"10m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationSpec>,
    /// Or until when: an RFC 3339 time; a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// Running another workflow of the organization and using its output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubWorkflowStep {
    /// The other workflow's id.
    pub workflow: String,
    /// Its trigger payload; strings may be templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
}
