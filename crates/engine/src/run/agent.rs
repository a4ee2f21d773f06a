//! The `agent` step: a model asked in turns, calling the tools the author listed until it
//! answers without calling one. Each turn (`agent[2].model`) and each tool call
//! (`agent[2].search_contacts`, after its approval `agent[2].search_contacts_approval` when the
//! tool asks for one) is a step of its own: checkpointed, retried with its own idempotency key,
//! and on a resume taken from its checkpoint, so the conversation is rebuilt as it was and no
//! call is made twice.

use std::time::Instant;

use baton_core::execution::{StepRun, TokenUsage};
use baton_core::{StepState, Usd};
use serde_json::{Value, json};

use super::Run;
use super::flow::Failure;
use super::leaf::Prepared;
use crate::compile::{CompiledAgent, CompiledKind, CompiledOnError, CompiledStep, ToolTarget};
use crate::error::StepError;
use crate::provider::{LlmRequest, ToolCall, ToolResult, Turn};
use crate::scope::Scope;
use crate::template::CompiledValue;

impl Run<'_> {
    pub(super) async fn agent(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &mut Scope,
        depth: u32,
        previous: Option<&StepRun>,
    ) -> Result<Value, Failure> {
        let CompiledKind::Agent(agent) = &step.kind else {
            unreachable!("agent() is called for agent steps")
        };
        let started = Instant::now();
        let mut run = self.new_run(key, StepState::Running, None, previous);
        run.attempts += 1;
        if let Err(error) = self.count_step() {
            return Err(self.fail(run, error, started).await);
        }
        let templates = &self.workflow.templates;
        let text = |value: &CompiledValue| {
            templates
                .render(value, scope)
                .map(super::leaf::text_of)
                .map_err(|error| StepError::permanent(error.0))
        };
        let goal = match text(&agent.prompt) {
            Ok(goal) => goal,
            Err(error) => return Err(self.fail(run, error, started).await),
        };
        let system = match agent.system.as_ref().map(text).transpose() {
            Ok(system) => system,
            Err(error) => return Err(self.fail(run, error, started).await),
        };
        let mut fixed = Vec::new();
        for tool in &agent.tools {
            match tool
                .inputs
                .as_ref()
                .map(|inputs| templates.render(inputs, scope))
                .transpose()
            {
                Ok(inputs) => fixed.push(inputs),
                Err(error) => {
                    return Err(self.fail(run, StepError::permanent(error.0), started).await);
                }
            }
        }
        run.input = Some(json!({
            "provider": agent.provider, "model": agent.model, "system": system, "prompt": goal,
            "tools": agent.tools.iter().map(|tool| tool.spec.name.clone()).collect::<Vec<_>>(),
            "max_iterations": agent.max_iterations,
        }));
        self.checkpoint(&run).await?;
        self.options.observer.step_started(key, run.attempts);

        let mut turns = vec![Turn::user(goal)];
        let mut usage = TokenUsage::default();
        let mut cost = Usd::ZERO;
        let mut calls_made = 0;
        for iteration in 1..=agent.max_iterations {
            let prefix = format!("{key}[{iteration}].");
            let answer = match self
                .agent_turn(step, agent, &prefix, system.clone(), &turns, scope)
                .await
            {
                Ok(answer) => answer,
                // The model failed for good: so does the agent, for its own on_error to act.
                Err(Failure::Step { error, .. }) => {
                    let error = StepError {
                        message: format!("turn {iteration}: {}", error.message),
                        ..error
                    };
                    return Err(self.fail(run, error, started).await);
                }
                Err(halt) => return Err(halt),
            };
            usage += TokenUsage {
                input_tokens: answer["usage"]["input_tokens"].as_i64().unwrap_or(0),
                output_tokens: answer["usage"]["output_tokens"].as_i64().unwrap_or(0),
            };
            cost += Usd::from_micros(
                (answer["cost_usd"].as_f64().unwrap_or(0.0) * 1_000_000.0).round() as i64,
            );
            if let Some(ceiling) = agent.max_cost
                && cost.micros() > ceiling.micros()
            {
                let error = StepError::permanent(format!(
                    "the agent spent ${:.4} in {iteration} turns, past its ceiling of ${:.4} (max_cost_usd)",
                    cost.dollars(),
                    ceiling.dollars()
                ));
                return Err(self.fail(run, error, started).await);
            }
            let calls: Vec<ToolCall> = answer
                .get("tool_calls")
                .cloned()
                .and_then(|calls| serde_json::from_value(calls).ok())
                .unwrap_or_default();
            let said = answer["response"].as_str().unwrap_or_default().to_owned();
            if calls.is_empty() {
                // Its usage and cost are its turns' (counted there once); the output sums them.
                let output = json!({
                    "response": said,
                    "iterations": iteration,
                    "tool_calls": calls_made,
                    "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
                    "cost_usd": cost,
                    "model": answer["model"],
                    "provider": answer["provider"],
                });
                return Ok(self.complete(&mut run, output, started).await?);
            }
            turns.push(Turn::assistant(said, calls.clone()));
            let mut named = std::collections::HashMap::new();
            for call in calls {
                calls_made += 1;
                let seen = named.entry(call.name.clone()).or_insert(0);
                *seen += 1;
                let id = if *seen == 1 {
                    call.name.clone()
                } else {
                    format!("{}_{seen}", call.name)
                };
                let content = self
                    .tool_call(step, agent, &fixed, &prefix, &id, &call, scope, depth)
                    .await?;
                turns.push(Turn::tool(ToolResult {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    content,
                }));
            }
        }
        let error = StepError::permanent(format!(
            "the agent did not finish within {} turns (max_iterations); it made {calls_made} tool calls",
            agent.max_iterations
        ));
        Err(self.fail(run, error, started).await)
    }

    /// One turn of the model, from its checkpoint when it was taken before.
    async fn agent_turn(
        &self,
        step: &CompiledStep,
        agent: &CompiledAgent,
        prefix: &str,
        system: Option<String>,
        turns: &[Turn],
        scope: &Scope,
    ) -> Result<Value, Failure> {
        let key = format!("{prefix}model");
        let previous = self.memo.get(&key);
        if let Some(done) = previous.filter(|run| run.state == StepState::Completed) {
            return Ok(done.output.clone().unwrap_or(Value::Null));
        }
        let request = LlmRequest {
            org_id: self.org(),
            provider: agent.provider.clone(),
            model: agent.model.clone(),
            system,
            turns: turns.to_vec(),
            // The conversation holds the goal; it ends with the tools' results.
            prompt: String::new(),
            temperature: agent.temperature,
            max_tokens: agent.max_tokens,
            json: false,
            tools: agent.tools.iter().map(|tool| tool.spec.clone()).collect(),
            schema: None,
            idempotency_key: self.idempotency_key(&key),
            secret: None,
            price: None,
        };
        let input = json!({"provider": agent.provider, "model": agent.model, "turns": turns.len()});
        self.attempts(
            step,
            &key,
            scope,
            previous,
            Some((Prepared::Llm(request, agent.fallbacks.clone(), None), input)),
        )
        .await
    }

    /// One tool call (after a person's approval when the tool asks for one): what it gave, or
    /// the error it failed with, for the model to read.
    #[allow(clippy::too_many_arguments)]
    async fn tool_call(
        &self,
        step: &CompiledStep,
        agent: &CompiledAgent,
        fixed: &[Option<Value>],
        prefix: &str,
        id: &str,
        call: &ToolCall,
        scope: &Scope,
        depth: u32,
    ) -> Result<Value, Failure> {
        let Some(index) = agent
            .tools
            .iter()
            .position(|tool| tool.spec.name == call.name)
        else {
            return Ok(json!({"error": format!(
                "there is no tool named {:?}; the tools are: {}",
                call.name,
                agent.tools.iter().map(|tool| tool.spec.name.as_str()).collect::<Vec<_>>().join(", ")
            )}));
        };
        let tool = &agent.tools[index];
        let mut arguments = match &call.arguments {
            Value::Object(arguments) => arguments.clone(),
            _ => Default::default(),
        };
        if let Some(Value::Object(fixed)) = &fixed[index] {
            arguments.extend(fixed.clone());
        }
        let arguments = Value::Object(arguments);
        let mut child_scope = scope.clone();
        let child = |id: String, kind: CompiledKind, on_error: CompiledOnError| CompiledStep {
            id,
            path: format!("{}.tools", step.path),
            backoff: step.backoff,
            timeout: step.timeout,
            on_error,
            kind,
        };
        if tool.approval {
            let approval = child(
                format!("{id}_approval"),
                CompiledKind::Approval {
                    message: CompiledValue::Literal(Value::String(format!(
                        "The agent asks to use {} ({}) with: {}",
                        tool.spec.name,
                        tool.spec.description,
                        serde_json::to_string_pretty(&arguments).unwrap_or_default()
                    ))),
                    approvers: None,
                    timeout: None,
                    on_timeout: baton_core::dsl::ApprovalTimeout::Fail,
                    default_answer: None,
                },
                CompiledOnError::Fail,
            );
            let answer = self
                .child(&approval, &mut child_scope, prefix, depth)
                .await?;
            if answer["approved"] != Value::Bool(true) {
                return Ok(json!({"error": format!(
                    "a person declined this call{}",
                    answer["comment"].as_str().map(|comment| format!(": {comment}")).unwrap_or_default()
                )}));
            }
        }
        let kind = match &tool.target {
            ToolTarget::Action {
                service,
                action,
                credential,
            } => CompiledKind::Integration {
                service: service.clone(),
                action: action.clone(),
                // What the model wrote is data, never a template.
                inputs: CompiledValue::Literal(arguments),
                credential: credential.clone(),
            },
            ToolTarget::Workflow(workflow) => CompiledKind::SubWorkflow {
                workflow: workflow.clone(),
                inputs: CompiledValue::Literal(arguments),
            },
        };
        // A failed call is the model's to read (and work around), not the step's end.
        let call_step = child(id.to_owned(), kind, CompiledOnError::Continue);
        self.child(&call_step, &mut child_scope, prefix, depth)
            .await
    }

    /// Runs a step the agent made, as a step of the workflow's (from its checkpoint when done).
    async fn child(
        &self,
        step: &CompiledStep,
        scope: &mut Scope,
        prefix: &str,
        depth: u32,
    ) -> Result<Value, Failure> {
        self.list(std::slice::from_ref(step), scope, prefix, depth + 1)
            .await
            .map_err(Failure::Halt)
    }
}
