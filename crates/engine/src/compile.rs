//! Loading a workflow: the document is parsed (core), checked against the JSON Schema, and
//! compiled once: every template parsed, every reference checked to name something that has run
//! by then, models and actions checked. The result is what the runner executes.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::Duration;

use baton_core::dsl::{
    self, ApprovalTimeout, Approvers, OnError, ParallelMode, Problem, ResponseFormat, Step,
    StepKind, TransformAction, WorkflowHeader,
};
use serde_json::Value;

use crate::connector::Connectors;
use crate::limits::Limits;
use crate::model::{PROVIDERS, infer_provider};
use crate::retry::Backoff;
use crate::template::{CompiledExpression, CompiledValue, Templates};

/// Roots every template may read.
const GLOBAL_ROOTS: [&str; 3] = ["trigger", "user", "execution"];

/// A workflow ready to run.
#[derive(Debug)]
pub struct CompiledWorkflow {
    pub header: WorkflowHeader,
    pub steps: Vec<CompiledStep>,
    pub templates: Templates,
    /// The execution's time limit: the workflow's own, or the engine's.
    pub timeout: Duration,
}

impl CompiledWorkflow {
    /// The ids of `from` and of every step after it, in the order a run meets them (a
    /// branch's steps before the steps that follow the branch); `None` when no step has that id.
    pub fn steps_from(&self, from: &str) -> Option<Vec<String>> {
        fn walk(steps: &[CompiledStep], into: &mut Vec<String>) {
            for step in steps {
                into.push(step.id.clone());
                match &step.kind {
                    CompiledKind::Conditional {
                        then, otherwise, ..
                    } => {
                        walk(then, into);
                        walk(otherwise, into);
                    }
                    CompiledKind::Loop { steps, .. } => walk(steps, into),
                    CompiledKind::Parallel { branches, .. } => {
                        branches.iter().for_each(|branch| walk(branch, into));
                    }
                    _ => {}
                }
                if let CompiledOnError::Fallback(steps) = &step.on_error {
                    walk(steps, into);
                }
            }
        }
        let mut order = Vec::new();
        walk(&self.steps, &mut order);
        let at = order.iter().position(|id| id == from)?;
        Some(order.split_off(at))
    }

    /// Whether every step only computes from what the run already holds (transformations, and
    /// conditionals, loops and parallels of them): nothing is called, nothing waits. Run again,
    /// such a workflow gives the same result and does nothing else, so it needs no checkpoint
    /// until it ends.
    pub fn is_pure(&self) -> bool {
        self.steps.iter().all(CompiledStep::is_pure)
    }

    /// The step a step run's key names: `send`, or `each[2].send` inside a loop.
    pub fn step_by_key(&self, key: &str) -> Option<&CompiledStep> {
        let id = key.rsplit('.').next()?;
        find_step(&self.steps, id)
    }

    /// Whether the step at `key` is one a person answers: an approval step, or an agent's
    /// approval of a call to a tool that asks for one (`agent[2].send_email_approval`).
    pub fn takes_answer(&self, key: &str) -> bool {
        if self
            .step_by_key(key)
            .is_some_and(|step| matches!(step.kind, CompiledKind::Approval { .. }))
        {
            return true;
        }
        let Some((owner, child)) = key.rsplit_once('.') else {
            return false;
        };
        let Some(call) = child.strip_suffix("_approval") else {
            return false;
        };
        let Some((agent_key, _)) = owner
            .strip_suffix(']')
            .and_then(|owner| owner.rsplit_once('['))
        else {
            return false;
        };
        self.step_by_key(agent_key).is_some_and(|step| {
            matches!(&step.kind, CompiledKind::Agent(agent) if agent.tools.iter().any(|tool| {
                tool.approval
                    && (call == tool.spec.name || call.starts_with(&format!("{}_", tool.spec.name)))
            }))
        })
    }
}

fn find_step<'a>(steps: &'a [CompiledStep], id: &str) -> Option<&'a CompiledStep> {
    steps.iter().find_map(|step| {
        if step.id == id {
            return Some(step);
        }
        let nested: Vec<&[CompiledStep]> = match &step.kind {
            CompiledKind::Conditional {
                then, otherwise, ..
            } => vec![then, otherwise],
            CompiledKind::Loop { steps, .. } => vec![steps],
            CompiledKind::Parallel { branches, .. } => branches.iter().map(Vec::as_slice).collect(),
            _ => Vec::new(),
        };
        let fallback = match &step.on_error {
            CompiledOnError::Fallback(steps) => Some(steps.as_slice()),
            _ => None,
        };
        nested
            .into_iter()
            .chain(fallback)
            .find_map(|steps| find_step(steps, id))
    })
}

#[derive(Debug)]
pub struct CompiledStep {
    pub id: String,
    /// Where the step is in the document, for messages.
    pub path: String,
    pub backoff: Backoff,
    pub timeout: Option<Duration>,
    pub on_error: CompiledOnError,
    pub kind: CompiledKind,
}

impl CompiledStep {
    fn is_pure(&self) -> bool {
        let all = |steps: &[CompiledStep]| steps.iter().all(CompiledStep::is_pure);
        let fallback = match &self.on_error {
            CompiledOnError::Fallback(steps) => all(steps),
            CompiledOnError::Fail | CompiledOnError::Continue => true,
        };
        fallback
            && match &self.kind {
                CompiledKind::Transformation { .. } => true,
                CompiledKind::Conditional {
                    then, otherwise, ..
                } => all(then) && all(otherwise),
                CompiledKind::Loop { steps, .. } => all(steps),
                CompiledKind::Parallel { branches, .. } => {
                    branches.iter().all(|branch| all(branch))
                }
                CompiledKind::Llm { .. }
                | CompiledKind::Integration { .. }
                | CompiledKind::Approval { .. }
                | CompiledKind::Delay { .. }
                | CompiledKind::SubWorkflow { .. }
                | CompiledKind::Agent(_) => false,
            }
    }
}

/// An agent step, compiled.
#[derive(Debug)]
pub struct CompiledAgent {
    pub provider: String,
    pub model: String,
    pub prompt: CompiledValue,
    pub system: Option<CompiledValue>,
    pub tools: Vec<CompiledTool>,
    pub max_iterations: u32,
    pub max_cost: Option<baton_core::Usd>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub fallbacks: Vec<(String, String)>,
}

/// One of an agent's tools: what the model is told of it, and what a call does.
#[derive(Debug)]
pub struct CompiledTool {
    pub spec: crate::provider::ToolSpec,
    pub target: ToolTarget,
    /// Inputs the author fixed, merged over the model's arguments.
    pub inputs: Option<CompiledValue>,
    pub approval: bool,
}

#[derive(Debug)]
pub enum ToolTarget {
    Action {
        service: String,
        action: String,
        credential: Option<String>,
    },
    Workflow(String),
}

/// The most turns an agent may take.
pub const MAX_AGENT_ITERATIONS: u32 = 50;
const DEFAULT_AGENT_ITERATIONS: u32 = 8;

#[derive(Debug)]
pub enum CompiledOnError {
    Fail,
    Continue,
    Fallback(Vec<CompiledStep>),
}

#[derive(Debug)]
pub enum CompiledKind {
    Llm {
        provider: String,
        model: String,
        prompt: CompiledValue,
        system: Option<CompiledValue>,
        temperature: Option<f64>,
        max_tokens: Option<u32>,
        json: bool,
        /// The shape the answer must have, when the step gives one.
        schema: Option<std::sync::Arc<crate::structured::OutputSchema>>,
        inputs: Option<CompiledValue>,
        /// `(provider, model)` to ask in turn after a transient failure.
        fallbacks: Vec<(String, String)>,
    },
    Integration {
        service: String,
        action: String,
        inputs: CompiledValue,
        credential: Option<String>,
    },
    Transformation {
        action: TransformAction,
        inputs: CompiledValue,
        expression: Option<CompiledExpression>,
    },
    Conditional {
        condition: CompiledExpression,
        then: Vec<CompiledStep>,
        otherwise: Vec<CompiledStep>,
    },
    Loop {
        items: CompiledValue,
        item_name: String,
        concurrency: usize,
        max_items: usize,
        steps: Vec<CompiledStep>,
    },
    Parallel {
        fail_fast: bool,
        branches: Vec<Vec<CompiledStep>>,
    },
    Approval {
        message: CompiledValue,
        approvers: Option<Approvers>,
        timeout: Option<Duration>,
        on_timeout: ApprovalTimeout,
        default_answer: Option<Value>,
    },
    Delay {
        duration: Option<Duration>,
        until: Option<CompiledValue>,
    },
    /// A model with tools, asked in turns until it answers without calling one.
    Agent(Box<CompiledAgent>),
    SubWorkflow {
        workflow: String,
        inputs: CompiledValue,
    },
}

impl CompiledKind {
    /// The step's `type`, as the document says it: `llm`, `integration`, ...
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Llm { .. } => "llm",
            Self::Integration { .. } => "integration",
            Self::Transformation { .. } => "transformation",
            Self::Conditional { .. } => "conditional",
            Self::Loop { .. } => "loop",
            Self::Parallel { .. } => "parallel",
            Self::Approval { .. } => "approval",
            Self::Delay { .. } => "delay",
            Self::Agent(_) => "agent",
            Self::SubWorkflow { .. } => "sub_workflow",
        }
    }
}

/// What compiling needs to know about the installation.
/// The shortest a poll trigger may wait between looks.
pub const MIN_POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

pub struct CompileOptions<'a> {
    pub limits: &'a Limits,
    pub connectors: &'a dyn Connectors,
    /// Ids of OpenAI-compatible servers the operator configured, usable as `provider`.
    pub extra_providers: &'a [String],
}

/// The DSL's JSON Schema, compiled once.
fn schema_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::validator_for(&dsl::schema::workflow_schema())
            .expect("the generated DSL schema is a valid JSON Schema")
    })
}

/// Parses, checks and compiles a document, returning every problem found.
pub fn validate_document(
    document: &Value,
    options: &CompileOptions<'_>,
) -> Result<CompiledWorkflow, Vec<Problem>> {
    let definition = dsl::parse_workflow(document)?;
    // The parser's messages are the precise ones; the schema is a second check of the same rules.
    let schema_problems: Vec<Problem> = schema_validator()
        .iter_errors(document)
        .map(|error| {
            Problem::new(
                pointer_to_path(&error.instance_path().to_string()),
                error.to_string(),
            )
        })
        .collect();
    if !schema_problems.is_empty() {
        return Err(schema_problems);
    }
    compile_workflow(definition, options)
}

/// Compiles a parsed definition.
pub fn compile_workflow(
    definition: dsl::WorkflowDefinition,
    options: &CompileOptions<'_>,
) -> Result<CompiledWorkflow, Vec<Problem>> {
    let mut compiler = Compiler {
        options,
        templates: Templates::new(),
        problems: Vec::new(),
        paths: HashMap::new(),
    };
    compiler.index(&definition.steps, "$.steps");
    let mut visible = HashSet::new();
    let steps = compiler.steps(
        &definition.steps,
        "$.steps",
        &mut visible,
        &HashSet::new(),
        0,
    );
    let timeout = definition
        .header
        .timeout
        .map_or(options.limits.max_run_time, |spec| spec.get());
    if let Some(dsl::Trigger::Schedule { cron, timezone, .. }) = &definition.header.trigger {
        match crate::schedule::Schedule::parse(cron, timezone.as_deref()) {
            Ok(schedule) => {
                let shortest = options.limits.min_schedule_interval;
                if let Some(gap) = schedule.shortest_gap(chrono::Utc::now(), 100)
                    && gap < shortest
                {
                    compiler.problems.push(Problem::new(
                        "$.trigger.cron",
                        format!(
                            "{cron:?} runs {} apart; schedules may run at most every {} (BATON_MIN_SCHEDULE_INTERVAL)",
                            baton_core::dsl::DurationSpec::new(gap),
                            baton_core::dsl::DurationSpec::new(shortest)
                        ),
                    ));
                }
            }
            Err(crate::schedule::ScheduleProblem::Cron(message)) => {
                compiler
                    .problems
                    .push(Problem::new("$.trigger.cron", message));
            }
            Err(crate::schedule::ScheduleProblem::Timezone(message)) => {
                compiler
                    .problems
                    .push(Problem::new("$.trigger.timezone", message));
            }
        }
    }
    if let Some(dsl::Trigger::Poll {
        service,
        event,
        every,
        ..
    }) = &definition.header.trigger
    {
        if let Some(problem) = options.connectors.trigger_problem(service, event) {
            compiler
                .problems
                .push(Problem::new("$.trigger.event", problem));
        }
        if every.is_some_and(|every| every.get() < MIN_POLL_EVERY) {
            compiler.problems.push(Problem::new(
                "$.trigger.every",
                format!("must be at least {} s", MIN_POLL_EVERY.as_secs()),
            ));
        }
    }
    if compiler.problems.is_empty() {
        Ok(CompiledWorkflow {
            header: definition.header,
            steps,
            templates: compiler.templates,
            timeout,
        })
    } else {
        Err(compiler.problems)
    }
}

/// `/steps/1/id` → `$.steps[1].id`.
pub(crate) fn pointer_to_path(pointer: &str) -> String {
    let mut path = String::from("$");
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() {
            path.push_str(&format!("[{segment}]"));
        } else {
            path.push('.');
            path.push_str(&segment);
        }
    }
    path
}

struct Compiler<'a> {
    options: &'a CompileOptions<'a>,
    templates: Templates,
    problems: Vec<Problem>,
    /// Every step id, with its path.
    paths: HashMap<String, String>,
}

impl Compiler<'_> {
    fn index(&mut self, steps: &[Step], path: &str) {
        for (index, step) in steps.iter().enumerate() {
            let here = format!("{path}[{index}]");
            self.paths.insert(step.id.clone(), here.clone());
            for (nested, nested_path) in nested_lists(step, &here) {
                self.index(nested, &nested_path);
            }
        }
    }

    /// Compiles a step list. `visible` holds the ids whose output exists by then and grows as
    /// the list goes on; `locals` holds names a loop or step binds.
    fn steps(
        &mut self,
        steps: &[Step],
        path: &str,
        visible: &mut HashSet<String>,
        locals: &HashSet<String>,
        depth: u32,
    ) -> Vec<CompiledStep> {
        steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let here = format!("{path}[{index}]");
                let compiled = self.step(step, &here, visible, locals, depth);
                visible.insert(step.id.clone());
                compiled
            })
            .collect()
    }

    fn step(
        &mut self,
        step: &Step,
        path: &str,
        visible: &mut HashSet<String>,
        locals: &HashSet<String>,
        depth: u32,
    ) -> CompiledStep {
        if depth > self.options.limits.max_depth {
            self.problems.push(Problem::new(
                path,
                format!(
                    "steps nest deeper than {} levels",
                    self.options.limits.max_depth
                ),
            ));
        }
        let kind = self.kind(step, path, visible, locals, depth);
        let on_error = match &step.on_error {
            OnError::Fail => CompiledOnError::Fail,
            OnError::Continue => CompiledOnError::Continue,
            OnError::Fallback(steps) => {
                let mut fallback_visible = visible.clone();
                let compiled = self.steps(
                    steps,
                    &format!("{path}.on_error.fallback"),
                    &mut fallback_visible,
                    locals,
                    depth + 1,
                );
                visible.extend(fallback_visible);
                CompiledOnError::Fallback(compiled)
            }
        };
        CompiledStep {
            id: step.id.clone(),
            path: path.to_owned(),
            backoff: Backoff::from_policy(step.common.retry.as_ref()),
            timeout: step.common.timeout.map(|spec| spec.get()),
            on_error,
            kind,
        }
    }

    fn value(
        &mut self,
        value: &Value,
        path: &str,
        visible: &HashSet<String>,
        locals: &HashSet<String>,
    ) -> CompiledValue {
        let compiled = self
            .templates
            .compile_value(value, path, &mut self.problems);
        self.check_value_refs(&compiled, path, visible, locals);
        compiled
    }

    /// Checks the references of each string at its own path.
    fn check_value_refs(
        &mut self,
        value: &CompiledValue,
        path: &str,
        visible: &HashSet<String>,
        locals: &HashSet<String>,
    ) {
        match value {
            CompiledValue::Literal(_) => {}
            CompiledValue::Template { refs, .. }
            | CompiledValue::Expression(CompiledExpression { refs, .. }) => {
                let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                self.check_refs(&refs, path, visible, locals);
            }
            CompiledValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.check_value_refs(item, &format!("{path}[{index}]"), visible, locals);
                }
            }
            CompiledValue::Object(fields) => {
                for (key, field) in fields {
                    self.check_value_refs(field, &format!("{path}.{key}"), visible, locals);
                }
            }
        }
    }

    fn expression(
        &mut self,
        text: &str,
        path: &str,
        visible: &HashSet<String>,
        locals: &HashSet<String>,
    ) -> Option<CompiledExpression> {
        match self.templates.compile_expression(text, path) {
            Ok(expression) => {
                let refs: Vec<&str> = expression.refs.iter().map(String::as_str).collect();
                self.check_refs(&refs, path, visible, locals);
                Some(expression)
            }
            Err(problem) => {
                self.problems.push(problem);
                None
            }
        }
    }

    fn check_refs(
        &mut self,
        refs: &[&str],
        path: &str,
        visible: &HashSet<String>,
        locals: &HashSet<String>,
    ) {
        let mut reported = HashSet::new();
        for reference in refs {
            let root = reference.split('.').next().unwrap_or(reference);
            if GLOBAL_ROOTS.contains(&root)
                || locals.contains(root)
                || visible.contains(root)
                || !reported.insert(root)
            {
                continue;
            }
            let message = match self.paths.get(root) {
                Some(at) => format!(
                    "`{{{{{reference}}}}}` refers to step {root:?} (at {at}), which has not run at this point"
                ),
                None => {
                    format!("`{{{{{reference}}}}}` refers to step {root:?}, which does not exist")
                }
            };
            self.problems.push(Problem::new(path, message));
        }
    }

    /// A fallback entry's provider and model: `provider/model` with a provider Baton knows or
    /// the operator configured (`ollama/llama3.2`, `anthropic/claude-3-5-haiku-latest`), or a
    /// model whose provider its name tells (`claude-sonnet-4-5`).
    /// The provider a model step calls: the one it names (built in or configured), else the
    /// one its model's name tells.
    fn provider_for(&mut self, provider: Option<&String>, model: &str, path: &str) -> String {
        match (provider, infer_provider(model)) {
            (Some(provider), _)
                if PROVIDERS.contains(&provider.as_str())
                    || self.options.extra_providers.contains(provider) =>
            {
                provider.clone()
            }
            (Some(provider), _) => {
                self.problems.push(Problem::new(
                    format!("{path}.provider"),
                    format!(
                        "unknown provider {provider:?} (expected one of {}{})",
                        PROVIDERS.join(", "),
                        if self.options.extra_providers.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", self.options.extra_providers.join(", "))
                        }
                    ),
                ));
                String::new()
            }
            (None, Some(provider)) => provider.to_owned(),
            (None, None) => {
                self.problems.push(Problem::new(format!("{path}.model"), format!(
                    "unknown model {:?}: its provider cannot be told from the name; set `provider` ({})",
                    model,
                    PROVIDERS.join(", ")
                )));
                String::new()
            }
        }
    }

    /// A step's `fallback` list as `(provider, model)`, each entry's problem at its path.
    fn fallbacks(&mut self, list: &[String], path: &str) -> Vec<(String, String)> {
        list
                        .iter()
                        .enumerate()
                        .filter_map(|(index, entry)| match self.fallback_model(entry) {
                            Some(pair) => Some(pair),
                            None => {
                                self.problems.push(Problem::new(
                                    format!("{path}.fallback[{index}]"),
                                    format!(
                                        "unknown model {entry:?}: its provider cannot be told from the name; write it as provider/model ({})",
                                        self.provider_names()
                                    ),
                                ));
                                None
                            }
                        })
                        .collect()
    }

    fn fallback_model(&self, entry: &str) -> Option<(String, String)> {
        if let Some((provider, model)) = entry.split_once('/') {
            let provider = provider.trim().to_ascii_lowercase();
            let known = PROVIDERS.contains(&provider.as_str())
                || self.options.extra_providers.contains(&provider);
            if known && !model.trim().is_empty() {
                return Some((provider, model.trim().to_owned()));
            }
        }
        infer_provider(entry).map(|provider| (provider.to_owned(), entry.to_owned()))
    }

    /// The providers a step may name, for an error.
    fn provider_names(&self) -> String {
        let mut names: Vec<&str> = PROVIDERS.to_vec();
        names.extend(self.options.extra_providers.iter().map(String::as_str));
        names.join(", ")
    }

    fn kind(
        &mut self,
        step: &Step,
        path: &str,
        visible: &mut HashSet<String>,
        locals: &HashSet<String>,
        depth: u32,
    ) -> CompiledKind {
        let empty = Value::Object(Default::default());
        match &step.kind {
            StepKind::Llm(llm) => {
                let provider = self.provider_for(llm.provider.as_ref(), &llm.model, path);
                let inputs = llm
                    .inputs
                    .as_ref()
                    .map(|inputs| self.value(inputs, &format!("{path}.inputs"), visible, locals));
                let schema = llm.output_schema.as_ref().and_then(|schema| {
                    match crate::structured::OutputSchema::compile(schema) {
                        Ok(schema) => Some(std::sync::Arc::new(schema)),
                        Err(message) => {
                            self.problems
                                .push(Problem::new(format!("{path}.output_schema"), message));
                            None
                        }
                    }
                });
                let mut with_inputs = locals.clone();
                if inputs.is_some() {
                    with_inputs.insert("inputs".to_owned());
                }
                CompiledKind::Llm {
                    provider,
                    model: llm.model.clone(),
                    prompt: self.value(
                        &Value::String(llm.prompt.clone()),
                        &format!("{path}.prompt"),
                        visible,
                        &with_inputs,
                    ),
                    system: llm.system.as_ref().map(|system| {
                        self.value(
                            &Value::String(system.clone()),
                            &format!("{path}.system"),
                            visible,
                            &with_inputs,
                        )
                    }),
                    temperature: llm.temperature,
                    max_tokens: llm.max_tokens,
                    json: llm.response_format == Some(ResponseFormat::Json) || schema.is_some(),
                    schema,
                    inputs,
                    fallbacks: self.fallbacks(&llm.fallback, path),
                }
            }
            StepKind::Integration(integration) => {
                if let Some(problem) = self
                    .options
                    .connectors
                    .action_problem(&integration.service, &integration.action)
                {
                    self.problems
                        .push(Problem::new(format!("{path}.action"), problem));
                } else {
                    for (at, problem) in self.options.connectors.input_problems(
                        &integration.service,
                        &integration.action,
                        integration.inputs.as_ref().unwrap_or(&empty),
                    ) {
                        self.problems
                            .push(Problem::new(format!("{path}.inputs{at}"), problem));
                    }
                }
                CompiledKind::Integration {
                    service: integration.service.clone(),
                    action: integration.action.clone(),
                    inputs: self.value(
                        integration.inputs.as_ref().unwrap_or(&empty),
                        &format!("{path}.inputs"),
                        visible,
                        locals,
                    ),
                    credential: integration.credential.clone(),
                }
            }
            StepKind::Transformation(transformation) => {
                self.transformation(transformation, path, visible, locals)
            }
            StepKind::Conditional {
                spec,
                then,
                otherwise,
            } => {
                let condition = self.expression(
                    &spec.condition,
                    &format!("{path}.condition"),
                    visible,
                    locals,
                );
                let mut then_visible = visible.clone();
                let then = self.steps(
                    then,
                    &format!("{path}.then"),
                    &mut then_visible,
                    locals,
                    depth + 1,
                );
                let mut else_visible = visible.clone();
                let otherwise = self.steps(
                    otherwise,
                    &format!("{path}.else"),
                    &mut else_visible,
                    locals,
                    depth + 1,
                );
                // Only one branch runs; a later reference to the other fails at run time with a
                // message naming it.
                visible.extend(then_visible);
                visible.extend(else_visible);
                CompiledKind::Conditional {
                    condition: condition.unwrap_or_else(false_expression),
                    then,
                    otherwise,
                }
            }
            StepKind::Loop { spec, steps } => {
                let limit = self.options.limits.max_loop_items;
                let max_items = spec.max_items.unwrap_or(limit);
                if max_items > limit {
                    self.problems.push(Problem::new(
                        format!("{path}.max_items"),
                        format!("at most {limit} items are allowed per loop"),
                    ));
                }
                let items = match &spec.items {
                    Value::String(text) if !text.contains("{{") => {
                        match self.expression(text, &format!("{path}.items"), visible, locals) {
                            Some(expression) => CompiledValue::Expression(expression),
                            None => CompiledValue::Literal(Value::Null),
                        }
                    }
                    other => self.value(other, &format!("{path}.items"), visible, locals),
                };
                let item_name = spec.item_name.clone().unwrap_or_else(|| "item".to_owned());
                let mut inner_locals = locals.clone();
                inner_locals.insert(item_name.clone());
                inner_locals.insert("loop".to_owned());
                let mut inner_visible = visible.clone();
                let steps = self.steps(
                    steps,
                    &format!("{path}.steps"),
                    &mut inner_visible,
                    &inner_locals,
                    depth + 1,
                );
                let most = self.options.limits.max_concurrency;
                if let Some(asked) = spec.concurrency
                    && asked > most
                {
                    self.problems.push(Problem::new(
                        format!("{path}.concurrency"),
                        format!(
                            "is {asked}; at most {most} items may run at once (BATON_MAX_CONCURRENCY)"
                        ),
                    ));
                }
                CompiledKind::Loop {
                    items,
                    item_name,
                    concurrency: spec.concurrency.unwrap_or(1).max(1) as usize,
                    max_items: max_items as usize,
                    steps,
                }
            }
            StepKind::Parallel { spec, branches } => {
                let compiled = branches
                    .iter()
                    .enumerate()
                    .map(|(index, branch)| {
                        let mut branch_visible = visible.clone();
                        let steps = self.steps(
                            branch,
                            &format!("{path}.branches[{index}]"),
                            &mut branch_visible,
                            locals,
                            depth + 1,
                        );
                        (steps, branch_visible)
                    })
                    .collect::<Vec<_>>();
                let mut branches = Vec::new();
                for (steps, branch_visible) in compiled {
                    visible.extend(branch_visible);
                    branches.push(steps);
                }
                CompiledKind::Parallel {
                    fail_fast: spec.mode != Some(ParallelMode::WaitAll),
                    branches,
                }
            }
            StepKind::Approval(approval) => {
                let on_timeout = approval.on_timeout.unwrap_or(ApprovalTimeout::Fail);
                if on_timeout == ApprovalTimeout::Default && approval.default_answer.is_none() {
                    self.problems.push(Problem::new(
                        format!("{path}.default_answer"),
                        "is required when on_timeout is \"default\"",
                    ));
                }
                CompiledKind::Approval {
                    message: self.value(
                        &Value::String(approval.message.clone()),
                        &format!("{path}.message"),
                        visible,
                        locals,
                    ),
                    approvers: approval.approvers.clone(),
                    timeout: step.common.timeout.map(|spec| spec.get()),
                    on_timeout,
                    default_answer: approval.default_answer.clone(),
                }
            }
            StepKind::Delay(delay) => CompiledKind::Delay {
                duration: delay.duration.map(|spec| spec.get()),
                until: delay.until.as_ref().map(|until| {
                    self.value(
                        &Value::String(until.clone()),
                        &format!("{path}.until"),
                        visible,
                        locals,
                    )
                }),
            },
            StepKind::Agent(agent) => self.agent(agent, path, visible, locals),
            StepKind::SubWorkflow(sub) => CompiledKind::SubWorkflow {
                workflow: sub.workflow.clone(),
                inputs: self.value(
                    sub.inputs.as_ref().unwrap_or(&empty),
                    &format!("{path}.inputs"),
                    visible,
                    locals,
                ),
            },
        }
    }

    fn agent(
        &mut self,
        agent: &dsl::AgentStep,
        path: &str,
        visible: &HashSet<String>,
        locals: &HashSet<String>,
    ) -> CompiledKind {
        let provider = self.provider_for(agent.provider.as_ref(), &agent.model, path);
        if provider == "cohere" {
            self.problems.push(Problem::new(
                format!("{path}.model"),
                "Cohere's models are not given tools here yet: use an OpenAI, Anthropic or Google model",
            ));
        }
        let max_iterations = agent.max_iterations.unwrap_or(DEFAULT_AGENT_ITERATIONS);
        if !(1..=MAX_AGENT_ITERATIONS).contains(&max_iterations) {
            self.problems.push(Problem::new(
                format!("{path}.max_iterations"),
                format!("must be 1 to {MAX_AGENT_ITERATIONS}"),
            ));
        }
        if agent.tools.is_empty() {
            self.problems.push(Problem::new(
                format!("{path}.tools"),
                "an agent needs at least one tool (a connector action or a workflow); without tools use an llm step",
            ));
        }
        let catalog = self.options.connectors.catalog();
        let mut names = HashSet::new();
        let tools = agent
            .tools
            .iter()
            .enumerate()
            .filter_map(|(index, tool)| {
                let at = format!("{path}.tools[{index}]");
                let compiled = self.tool(tool, &at, &catalog, visible, locals)?;
                if !names.insert(compiled.spec.name.clone()) {
                    self.problems.push(Problem::new(
                        format!("{at}.name"),
                        format!(
                            "another tool is named {:?}; give each its own name",
                            compiled.spec.name
                        ),
                    ));
                }
                Some(compiled)
            })
            .collect();
        let max_cost = match agent.max_cost_usd {
            Some(dollars) if dollars.is_finite() && dollars >= 0.0 => Some(
                baton_core::Usd::from_micros((dollars * 1_000_000.0).round() as i64),
            ),
            Some(_) => {
                self.problems.push(Problem::new(
                    format!("{path}.max_cost_usd"),
                    "must be a number of dollars, 0 or more",
                ));
                None
            }
            None => None,
        };
        CompiledKind::Agent(Box::new(CompiledAgent {
            provider,
            model: agent.model.clone(),
            prompt: self.value(
                &Value::String(agent.prompt.clone()),
                &format!("{path}.prompt"),
                visible,
                locals,
            ),
            system: agent.system.as_ref().map(|system| {
                self.value(
                    &Value::String(system.clone()),
                    &format!("{path}.system"),
                    visible,
                    locals,
                )
            }),
            tools,
            max_iterations,
            max_cost,
            temperature: agent.temperature,
            max_tokens: agent.max_tokens,
            fallbacks: self.fallbacks(&agent.fallback, path),
        }))
    }

    /// One agent tool: an action of a connector (its input schema the arguments', less the
    /// inputs the author fixed) or another workflow.
    fn tool(
        &mut self,
        tool: &dsl::AgentTool,
        at: &str,
        catalog: &[Value],
        visible: &HashSet<String>,
        locals: &HashSet<String>,
    ) -> Option<CompiledTool> {
        let fixed = tool
            .inputs
            .as_ref()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let (target, default_name, mut description, mut parameters) = match (
            &tool.service,
            &tool.action,
            &tool.workflow,
        ) {
            (Some(service), Some(action), None) => {
                if let Some(problem) = self.options.connectors.action_problem(service, action) {
                    self.problems
                        .push(Problem::new(format!("{at}.action"), problem));
                    return None;
                }
                let declared = catalog
                    .iter()
                    .find(|known| known["id"] == service.as_str())
                    .and_then(|known| known["actions"].as_array())
                    .and_then(|actions| actions.iter().find(|known| known["id"] == action.as_str()))
                    .cloned()
                    .unwrap_or_default();
                (
                    ToolTarget::Action {
                        service: service.clone(),
                        action: action.clone(),
                        credential: tool.credential.clone(),
                    },
                    action.clone(),
                    declared["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    declared
                        .get("input_schema")
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({"type": "object"})),
                )
            }
            (None, None, Some(workflow)) => (
                ToolTarget::Workflow(workflow.clone()),
                workflow.clone(),
                format!("Runs the workflow {workflow} with the arguments as its trigger data"),
                serde_json::json!({"type": "object", "properties": {}, "additionalProperties": true}),
            ),
            _ => {
                self.problems.push(Problem::new(
                        at.to_owned(),
                        "a tool is a connector action (`service` and `action`) or a workflow (`workflow`), one of the two",
                    ));
                return None;
            }
        };
        if let Some(given) = &tool.parameters {
            parameters = given.clone();
        }
        if let Some(given) = &tool.description {
            description = given.clone();
        }
        // The model neither sees nor sets what the author fixed.
        if let Some(properties) = parameters
            .get_mut("properties")
            .and_then(Value::as_object_mut)
        {
            for name in fixed.keys() {
                properties.remove(name);
            }
        }
        if let Some(required) = parameters.get_mut("required").and_then(Value::as_array_mut) {
            required.retain(|name| name.as_str().is_some_and(|name| !fixed.contains_key(name)));
        }
        if parameters.get("type") != Some(&serde_json::json!("object")) {
            self.problems.push(Problem::new(
                format!("{at}.parameters"),
                "must be a JSON Schema of an object: {\"type\": \"object\", \"properties\": {...}}",
            ));
        }
        let name = tool.name.clone().unwrap_or(default_name);
        let valid = name.len() <= 64
            && name
                .chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            self.problems.push(Problem::new(
                format!("{at}.name"),
                format!("{name:?}: a tool's name is letters, digits and _ (up to 64), not starting with a digit"),
            ));
        }
        let inputs = (!fixed.is_empty()).then(|| {
            self.value(
                &Value::Object(fixed),
                &format!("{at}.inputs"),
                visible,
                locals,
            )
        });
        Some(CompiledTool {
            spec: crate::provider::ToolSpec {
                name,
                description,
                parameters,
            },
            target,
            inputs,
            approval: tool.approval,
        })
    }

    fn transformation(
        &mut self,
        transformation: &dsl::TransformationStep,
        path: &str,
        visible: &HashSet<String>,
        locals: &HashSet<String>,
    ) -> CompiledKind {
        let mut inputs = transformation
            .inputs
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        let inputs_path = format!("{path}.inputs");
        let expression_field = match transformation.action {
            TransformAction::Calculate => Some("expression"),
            TransformAction::Filter => Some("condition"),
            _ => None,
        };
        let mut expression = None;
        if let Some(field) = expression_field {
            let raw = inputs
                .as_object_mut()
                .and_then(|fields| fields.remove(field));
            match raw {
                Some(Value::String(text)) => {
                    let mut scope_locals = locals.clone();
                    if transformation.action == TransformAction::Filter {
                        scope_locals.insert("item".to_owned());
                    }
                    expression = self.expression(
                        &text,
                        &format!("{inputs_path}.{field}"),
                        visible,
                        &scope_locals,
                    );
                }
                _ => self.problems.push(Problem::new(
                    &inputs_path,
                    format!("`{field}` (an expression) is required"),
                )),
            }
        }
        if transformation.action == TransformAction::Jq {
            match inputs.get("program") {
                Some(Value::String(program)) if !program.contains("{{") => {
                    if let Err(error) = crate::jq::check(program) {
                        self.problems.push(Problem::new(
                            format!("{inputs_path}.program"),
                            format!("the jq program does not parse: {error}"),
                        ));
                    }
                }
                Some(Value::String(_)) => {}
                _ => self.problems.push(Problem::new(
                    &inputs_path,
                    "`program` (a jq program) is required",
                )),
            }
        }
        let required: &[&str] = match transformation.action {
            TransformAction::ExtractJson | TransformAction::Split | TransformAction::ParseDate => {
                &["text"]
            }
            TransformAction::Template => &["template"],
            TransformAction::Join
            | TransformAction::Sort
            | TransformAction::Deduplicate
            | TransformAction::Filter => &["items"],
            TransformAction::FormatDate => &["date", "format"],
            _ => &[],
        };
        for field in required {
            if inputs.get(*field).is_none() {
                self.problems.push(Problem::new(
                    &inputs_path,
                    format!(
                        "`{field}` is required for {}",
                        action_name(transformation.action)
                    ),
                ));
            }
        }
        CompiledKind::Transformation {
            action: transformation.action,
            inputs: self.value(&inputs, &inputs_path, visible, locals),
            expression,
        }
    }
}

fn action_name(action: TransformAction) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn false_expression() -> CompiledExpression {
    CompiledExpression {
        source: "false".into(),
        refs: Vec::new(),
    }
}

fn nested_lists<'a>(step: &'a Step, path: &str) -> Vec<(&'a [Step], String)> {
    let mut lists: Vec<(&[Step], String)> = match &step.kind {
        StepKind::Conditional {
            then, otherwise, ..
        } => vec![
            (then, format!("{path}.then")),
            (otherwise, format!("{path}.else")),
        ],
        StepKind::Loop { steps, .. } => vec![(steps, format!("{path}.steps"))],
        StepKind::Parallel { branches, .. } => branches
            .iter()
            .enumerate()
            .map(|(index, branch)| (branch.as_slice(), format!("{path}.branches[{index}]")))
            .collect(),
        _ => Vec::new(),
    };
    if let OnError::Fallback(steps) = &step.on_error {
        lists.push((steps, format!("{path}.on_error.fallback")));
    }
    lists
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::connector::NoConnectors;

    fn check(document: Value) -> Result<CompiledWorkflow, Vec<String>> {
        let limits = Limits::default();
        let options = CompileOptions {
            limits: &limits,
            connectors: &NoConnectors,
            extra_providers: &[],
        };
        validate_document(&document, &options)
            .map_err(|problems| problems.into_iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn the_seed_example_compiles() {
        let workflow = check(json!({
          "id": "wf_email_draft", "name": "Draft Email Response", "version": "1.0",
          "steps": [
            {"id": "step_1", "type": "integration", "service": "gmail", "action": "read_email", "inputs": {"email_id": "{{trigger.email_id}}"}},
            {"id": "step_2", "type": "llm", "model": "gpt-4", "prompt": "Draft a response to this email:\n\n{{step_1.body}}", "inputs": {"context": {"company": "{{user.company}}"}}},
            {"id": "step_3", "type": "transformation", "action": "extract_json", "inputs": {"text": "{{step_2.response}}"}},
            {"id": "step_4", "type": "integration", "service": "gmail", "action": "save_draft", "inputs": {"to": "{{step_1.from}}", "subject": "Re: {{step_1.subject}}", "body": "{{step_3.draft}}"}}
          ]
        }))
        .unwrap();
        assert_eq!(workflow.steps.len(), 4);
        assert!(
            matches!(&workflow.steps[1].kind, CompiledKind::Llm { provider, .. } if provider == "openai")
        );
    }

    #[test]
    fn only_workflows_that_call_nothing_and_wait_for_nothing_are_pure() {
        let set =
            json!({"id": "set", "type": "transformation", "action": "set", "inputs": {"a": 1}});
        let pure = check(json!({"id": "wf", "name": "x", "steps": [
            set,
            {"id": "check", "type": "conditional", "condition": "trigger.n > 1",
             "then": [{"id": "hot", "type": "transformation", "action": "set", "inputs": {"t": "hot"}}],
             "else": [{"id": "cold", "type": "transformation", "action": "set", "inputs": {"t": "cold"}}]},
            {"id": "each", "type": "loop", "items": "trigger.rows", "steps": [
                {"id": "row", "type": "transformation", "action": "set", "inputs": {"v": "{{ item }}"}}]},
            {"id": "both", "type": "parallel", "branches": [
                [{"id": "left", "type": "transformation", "action": "set", "inputs": {"l": 1}}],
                [{"id": "right", "type": "transformation", "action": "set", "inputs": {"r": 2}}]]}
        ]}))
        .unwrap();
        assert!(pure.is_pure());
        let impure = [
            json!({"id": "call", "type": "integration", "service": "slack", "action": "send_message", "inputs": {}}),
            json!({"id": "ask", "type": "llm", "model": "gpt-4", "prompt": "hi"}),
            json!({"id": "ok", "type": "approval", "message": "ok?"}),
            json!({"id": "pause", "type": "delay", "duration": "1s"}),
            json!({"id": "child", "type": "sub_workflow", "workflow": "wf_other", "inputs": {}}),
            json!({"id": "check", "type": "conditional", "condition": "true", "then": [
                {"id": "deep", "type": "integration", "service": "slack", "action": "send_message", "inputs": {}}]}),
            json!({"id": "guarded", "type": "transformation", "action": "set", "inputs": {"a": 1},
                   "on_error": {"fallback": [{"id": "backup", "type": "integration", "service": "email", "action": "send"}]}}),
        ];
        for step in impure {
            let workflow = check(json!({"id": "wf", "name": "x", "steps": [set, step]}))
                .unwrap_or_else(|problems| panic!("{step}: {problems:?}"));
            assert!(!workflow.is_pure(), "{step} calls out or waits");
        }
    }

    #[test]
    fn a_fallback_names_its_provider_when_the_model_name_does_not() {
        let limits = Limits::default();
        let servers = vec!["ollama".to_owned()];
        let options = CompileOptions {
            limits: &limits,
            connectors: &NoConnectors,
            extra_providers: &servers,
        };
        let document = json!({"id": "wf", "name": "x", "steps": [
            {"id": "ask", "type": "llm", "model": "gpt-4o", "prompt": "hi",
             "fallback": ["ollama/llama3.2:3b", "anthropic/claude-3-5-haiku-latest", "gemini-2.5-flash", "meta-llama/Llama-3.1-8B"]}
        ]});
        let problems = validate_document(&document, &options).unwrap_err();
        let problems: Vec<String> = problems.into_iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("$.steps[0].fallback[3]: unknown model \"meta-llama/Llama-3.1-8B\"")
                && problems[0]
                    .contains("provider/model (openai, anthropic, google, cohere, ollama)"),
            "{problems:?}"
        );
        let document = json!({"id": "wf", "name": "x", "steps": [
            {"id": "ask", "type": "llm", "provider": "ollama", "model": "llama3.2:3b", "prompt": "hi",
             "fallback": ["ollama/qwen2.5:7b", "anthropic/claude-3-5-haiku-latest", "gemini-2.5-flash"]}
        ]});
        let compiled = validate_document(&document, &options).unwrap();
        let CompiledKind::Llm { fallbacks, .. } = &compiled.steps[0].kind else {
            panic!("an llm step");
        };
        assert_eq!(
            fallbacks,
            &[
                ("ollama".to_owned(), "qwen2.5:7b".to_owned()),
                ("anthropic".to_owned(), "claude-3-5-haiku-latest".to_owned()),
                ("google".to_owned(), "gemini-2.5-flash".to_owned()),
            ]
        );
    }

    #[test]
    fn fallback_models_must_name_a_known_provider() {
        let problems = check(json!({"id": "wf", "name": "x", "steps": [
            {"id": "ask", "type": "llm", "model": "gpt-4o", "prompt": "hi", "fallback": ["claude-sonnet-4-5", "mystery-7b"]}
        ]}))
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("$.steps[0].fallback[1]: unknown model \"mystery-7b\""),
            "{problems:?}"
        );
    }

    #[test]
    fn references_must_name_steps_that_ran_before() {
        let problems = check(json!({"id": "wf", "name": "x", "steps": [
            {"id": "first", "type": "transformation", "action": "template", "inputs": {"template": "{{ second.text }} {{ ghost.x }}"}},
            {"id": "second", "type": "transformation", "action": "template", "inputs": {"template": "{{ first.text }} {{ second.text }}"}},
            {"id": "each", "type": "loop", "items": "trigger.rows", "steps": [
                {"id": "inner", "type": "transformation", "action": "set", "inputs": {"v": "{{ item.name }} {{ loop.index }} {{ first.text }}"}}
            ]},
            {"id": "after", "type": "transformation", "action": "set", "inputs": {"v": "{{ inner.v }} {{ each }} {{ item }}"}}
        ]}))
        .unwrap_err();
        assert_eq!(
            problems,
            vec![
                "$.steps[0].inputs.template: `{{ghost.x}}` refers to step \"ghost\", which does not exist",
                "$.steps[0].inputs.template: `{{second.text}}` refers to step \"second\" (at $.steps[1]), which has not run at this point",
                "$.steps[1].inputs.template: `{{second.text}}` refers to step \"second\" (at $.steps[1]), which has not run at this point",
                "$.steps[3].inputs.v: `{{inner.v}}` refers to step \"inner\" (at $.steps[2].steps[0]), which has not run at this point",
                "$.steps[3].inputs.v: `{{item}}` refers to step \"item\", which does not exist",
            ]
        );
    }

    #[test]
    fn unknown_models_template_errors_and_schema_breaches_are_reported() {
        let problems = check(json!({"id": "wf", "name": "x", "steps": [
            {"id": "a", "type": "llm", "model": "mystery-9000", "prompt": "hi"},
            {"id": "b", "type": "llm", "model": "gpt-4o", "provider": "acme", "prompt": "hi"},
            {"id": "c", "type": "llm", "model": "gpt-4o", "prompt": "Hi {{ a.response "},
            {"id": "d", "type": "transformation", "action": "jq", "inputs": {"program": ".[["}},
            {"id": "e", "type": "transformation", "action": "calculate", "inputs": {}},
            {"id": "f", "type": "approval", "message": "ok?", "on_timeout": "default"}
        ]}))
        .unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems[0].starts_with("$.steps[0].model: unknown model \"mystery-9000\""));
        assert!(problems[1].starts_with("$.steps[1].provider: unknown provider \"acme\""));
        assert!(problems[2].starts_with("$.steps[2].prompt: template syntax error at line 1"));
        assert!(
            problems[3].starts_with("$.steps[3].inputs.program: the jq program does not parse")
        );
        assert_eq!(
            problems[4],
            "$.steps[4].inputs: `expression` (an expression) is required"
        );
        assert_eq!(
            problems[5],
            "$.steps[5].default_answer: is required when on_timeout is \"default\""
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let mut steps =
            json!([{"id": "leaf", "type": "transformation", "action": "set", "inputs": {}}]);
        for level in 0..10 {
            steps = json!([{"id": format!("level_{level}"), "type": "conditional", "condition": "true", "then": steps}]);
        }
        let problems = check(json!({"id": "wf", "name": "deep", "steps": steps})).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].ends_with("steps nest deeper than 8 levels"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn json_pointers_become_json_paths() {
        assert_eq!(pointer_to_path("/steps/1/id"), "$.steps[1].id");
        assert_eq!(pointer_to_path(""), "$");
    }
}
