//! Steps that do one thing: call a model, call a service, transform data (with retries,
//! timeouts and circuit breakers), wait for a person or a time, or run another workflow.

use std::time::Instant;

use baton_core::StepState;
use baton_core::Usd;
use baton_core::dsl::{ApprovalTimeout, DurationSpec, TransformAction};
use baton_core::execution::{StepRun, TokenUsage};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::flow::Failure;
use super::{Halt, Run};
use crate::compile::{CompiledKind, CompiledStep};
use crate::connector::ActionCall;
use crate::error::StepError;
use crate::provider::LlmRequest;
use crate::retry::Decision;
use crate::scope::Scope;
use crate::structured::{OutputSchema, repair_prompt};
use crate::transform;

/// A call, its inputs rendered, ready to attempt.
pub(super) enum Prepared {
    /// The request, the `(provider, model)` fallbacks to ask in turn, and the shape the
    /// answer must have.
    Llm(
        LlmRequest,
        Vec<(String, String)>,
        Option<std::sync::Arc<OutputSchema>>,
    ),
    Integration(ActionCall),
    Transformation {
        action: TransformAction,
        inputs: Value,
    },
    Calculate(Value),
}

/// What an attempt produced.
struct Performed {
    output: Value,
    usage: TokenUsage,
    cost: Usd,
}

impl Performed {
    fn plain(output: Value) -> Self {
        Self {
            output,
            usage: TokenUsage::default(),
            cost: Usd::ZERO,
        }
    }
}

impl Run<'_> {
    pub(super) async fn leaf(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &mut Scope,
        previous: Option<&StepRun>,
    ) -> Result<Value, Failure> {
        match &step.kind {
            CompiledKind::Approval { .. } => self.approval(step, key, scope, previous).await,
            CompiledKind::Delay { .. } => self.delay(step, key, scope, previous).await,
            CompiledKind::SubWorkflow { .. } => self.sub_workflow(step, key, scope, previous).await,
            _ => self.attempts(step, key, scope, previous, None).await,
        }
    }

    /// Renders the inputs once, then attempts the call until it succeeds or the retry policy
    /// gives up. Each attempt is checkpointed before it starts.
    /// `given` is a call already made ready (an agent's model turn), with its record.
    pub(super) async fn attempts(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &Scope,
        previous: Option<&StepRun>,
        given: Option<(Prepared, Value)>,
    ) -> Result<Value, Failure> {
        let started = Instant::now();
        let mut run = self.new_run(key, StepState::Running, None, previous);
        if let Err(error) = self.count_step() {
            return Err(self.fail(run, error, started).await);
        }
        let prepared = match given {
            Some(given) => Ok(given),
            None => self.prepare(step, key, scope),
        };
        let (prepared, input) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return Err(self.fail(run, error, started).await),
        };
        run.input = Some(input);
        // A transformation acts on nothing outside the execution: if the process dies during
        // one, running it again is harmless, so only its result is checkpointed.
        let side_effects = matches!(prepared, Prepared::Llm(..) | Prepared::Integration(_));
        // Why earlier attempts failed, for a model's step record once one succeeds.
        let mut retried: Vec<Value> = Vec::new();
        loop {
            if let Prepared::Integration(call) = &prepared {
                // Over the service's limit until a window far off: the execution waits for it,
                // its job released, and the wait uses none of the step's attempts.
                if let Some((opens, why)) = self.throttle(&call.service).await {
                    return Err(self.park(&mut run, key, &why, opens).await);
                }
                // An open circuit (here or in another process) or a service's own Retry-After
                // holds the call back: a short wait is slept in place, a longer one parks the
                // step; neither uses an attempt.
                self.engine.read_shared_circuits().await;
                if let Some((why, wait)) = self.held_back(&call.service) {
                    if wait <= std::time::Duration::from_secs(10) {
                        tokio::select! {
                            () = tokio::time::sleep(wait) => continue,
                            () = self.options.cancel.cancelled() => {
                                self.finish(&mut run, StepState::Cancelled, None, None, started).await?;
                                return Err(Failure::Halt(Halt::Cancelled));
                            }
                        }
                    }
                    let resume_at = Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(30));
                    return Err(self
                        .park(&mut run, key, &StepError::transient(why), resume_at)
                        .await);
                }
            }
            if side_effects
                && let Some(lease) = &self.options.lease
                && !lease.held().await
            {
                // Another worker holds the job now: this one sends nothing more.
                return Err(Failure::Halt(Halt::Interrupted {
                    reason: format!("the job's lease was lost before step {key:?}"),
                }));
            }
            run.attempts += 1;
            run.state = StepState::Running;
            if side_effects {
                self.checkpoint(&run).await?;
            }
            self.options.observer.step_started(key, run.attempts);
            let attempt = self.perform(&prepared, scope);
            let outcome = tokio::select! {
                outcome = async {
                    match step.timeout {
                        Some(limit) => tokio::time::timeout(limit, attempt).await.unwrap_or_else(|_| {
                            Err(StepError::transient(format!("the step did not finish within {}", DurationSpec::new(limit))))
                        }),
                        None => attempt.await,
                    }
                } => outcome,
                () = self.options.cancel.cancelled() => {
                    self.finish(&mut run, StepState::Cancelled, None, None, started).await?;
                    return Err(Failure::Halt(Halt::Cancelled));
                }
            };
            let error = match outcome.and_then(|performed| {
                self.check_output_size(&performed.output)
                    .map(|()| performed)
            }) {
                Ok(mut performed) => {
                    metrics::histogram!(
                        "baton_step_duration_seconds",
                        "kind" => kind_of(&prepared),
                        "service" => service_of(&prepared)
                    )
                    .record(started.elapsed().as_secs_f64());
                    run.usage += performed.usage;
                    run.cost += performed.cost;
                    if let (Prepared::Llm(..), false) = (&prepared, retried.is_empty()) {
                        let later = performed.output["notes"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        retried.extend(later);
                        performed.output["notes"] = Value::Array(retried);
                    }
                    self.finish(
                        &mut run,
                        StepState::Completed,
                        Some(performed.output.clone()),
                        None,
                        started,
                    )
                    .await?;
                    return Ok(performed.output);
                }
                Err(error) => error,
            };
            if let Some((usage, cost)) = error.spent {
                run.usage += usage;
                run.cost += cost;
            }
            let decision = if self.one_attempt {
                Decision::GiveUp
            } else {
                step.backoff
                    .decide(run.attempts as u32, &error, rand::random::<f64>())
            };
            match decision {
                Decision::RetryAfter(wait) => {
                    metrics::counter!("baton_step_retries_total", "kind" => kind_of(&prepared))
                        .increment(1);
                    tracing::info!(
                        execution = %self.execution.id,
                        step = key,
                        attempt = run.attempts,
                        wait_ms = wait.as_millis() as u64,
                        error = %error.message,
                        "a step's attempt failed for a passing reason: trying again"
                    );
                    retried.push(json!(format!(
                        "attempt {} failed: {}; tried again after {}",
                        run.attempts,
                        error.message,
                        DurationSpec::new(wait)
                    )));
                    run.error = Some(error.to_json(key, run.attempts as u32));
                    self.checkpoint(&run).await?;
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.options.cancel.cancelled() => {
                            let last_error = run.error.clone();
                            self.finish(&mut run, StepState::Cancelled, None, last_error, started).await?;
                            return Err(Failure::Halt(Halt::Cancelled));
                        }
                    }
                }
                Decision::GiveUp => return Err(self.fail(run, error, started).await),
            }
        }
    }

    /// Parks a step until `resume_at`, saying why in its error: the execution waits with its
    /// job released, and the wait uses none of the step's attempts.
    async fn park(
        &self,
        run: &mut StepRun,
        key: &str,
        why: &StepError,
        resume_at: DateTime<Utc>,
    ) -> Failure {
        run.state = StepState::Waiting;
        run.error = Some(why.to_json(key, run.attempts.max(0) as u32));
        if let Err(halt) = self.checkpoint(run).await {
            return Failure::Halt(halt);
        }
        Failure::Halt(Halt::Waiting {
            step: key.to_owned(),
            resume_at: Some(resume_at),
        })
    }

    /// Renders a step's inputs into the call to make, and the record of what was asked.
    pub(super) fn prepare(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &Scope,
    ) -> Result<(Prepared, Value), StepError> {
        let templates = &self.workflow.templates;
        let render = |value, scope: &Scope| {
            templates
                .render(value, scope)
                .map_err(|error| StepError::permanent(error.0))
        };
        match &step.kind {
            CompiledKind::Llm {
                provider,
                model,
                prompt,
                system,
                temperature,
                max_tokens,
                json,
                schema,
                inputs,
                fallbacks,
            } => {
                let mut prompt_scope = scope.clone();
                let rendered_inputs = inputs
                    .as_ref()
                    .map(|inputs| render(inputs, scope))
                    .transpose()?;
                if let Some(inputs) = &rendered_inputs {
                    prompt_scope.set_json("inputs", inputs);
                }
                let prompt = text_of(render(prompt, &prompt_scope)?);
                let system = system
                    .as_ref()
                    .map(|system| render(system, &prompt_scope).map(text_of))
                    .transpose()?;
                let input = json!({"provider": provider, "model": model, "system": system, "prompt": prompt, "inputs": rendered_inputs});
                let request = LlmRequest {
                    org_id: self.org(),
                    provider: provider.clone(),
                    model: model.clone(),
                    system,
                    turns: Vec::new(),
                    prompt,
                    temperature: *temperature,
                    max_tokens: *max_tokens,
                    json: *json,
                    tools: Vec::new(),
                    schema: schema.as_ref().map(|schema| schema.schema().clone()),
                    idempotency_key: self.idempotency_key(key),
                    secret: None,
                    price: None,
                };
                Ok((
                    Prepared::Llm(request, fallbacks.clone(), schema.clone()),
                    input,
                ))
            }
            CompiledKind::Integration {
                service,
                action,
                inputs,
                credential,
            } => {
                let inputs = render(inputs, scope)?;
                let input = json!({"service": service, "action": action, "inputs": inputs, "credential": credential});
                let call = ActionCall {
                    org_id: self.org(),
                    service: service.clone(),
                    action: action.clone(),
                    inputs,
                    credential: credential.clone(),
                    idempotency_key: self.idempotency_key(key),
                    secret: None,
                };
                Ok((Prepared::Integration(call), input))
            }
            CompiledKind::Transformation {
                action,
                inputs,
                expression,
            } => {
                let inputs = render(inputs, scope)?;
                let input = json!({"action": action, "inputs": inputs});
                match (action, expression) {
                    (TransformAction::Calculate, Some(expression)) => {
                        let value = templates
                            .evaluate(expression, scope)
                            .map_err(|error| StepError::permanent(error.0))?;
                        let result = crate::template::to_json(&value)
                            .map_err(|error| StepError::permanent(error.0))?;
                        Ok((Prepared::Calculate(json!({"result": result})), input))
                    }
                    (TransformAction::Filter, Some(condition)) => {
                        let items = transform::list(&inputs, "items")?;
                        let mut kept = Vec::new();
                        for item in items {
                            let mut item_scope = scope.clone();
                            item_scope.set_json("item", item);
                            if templates
                                .truth(condition, &item_scope)
                                .map_err(|error| StepError::permanent(error.0))?
                            {
                                kept.push(item.clone());
                            }
                        }
                        Ok((Prepared::Calculate(json!({"items": kept})), input))
                    }
                    _ => Ok((
                        Prepared::Transformation {
                            action: *action,
                            inputs,
                        },
                        input,
                    )),
                }
            }
            _ => Err(StepError::system("this step kind is not attempted")),
        }
    }

    async fn perform(&self, prepared: &Prepared, _scope: &Scope) -> Result<Performed, StepError> {
        // Calls out wait their turn among the run's (and its sub-workflows') calls in flight.
        let connectors = self.engine.connectors.as_ref();
        let _turn = match prepared {
            Prepared::Llm(..) => self.family.calls.acquire().await.ok(),
            Prepared::Integration(call)
                if connectors.batch_size(&call.service, &call.action) <= 1 =>
            {
                self.family.calls.acquire().await.ok()
            }
            _ => None,
        };
        match prepared {
            Prepared::Transformation {
                action: TransformAction::Jq,
                inputs,
            } => {
                let (program, data) = transform::jq_inputs(inputs)?;
                crate::jq::run(program, data, self.engine.limits.jq)
                    .await
                    .map(|output| Performed::plain(transform::as_output(output, "result")))
            }
            Prepared::Transformation { action, inputs } => transform::apply(*action, inputs)
                .map(|output| Performed::plain(transform::as_output(output, "result"))),
            Prepared::Calculate(output) => Ok(Performed::plain(output.clone())),
            Prepared::Llm(first, fallbacks, schema) => {
                let started = Instant::now();
                let answered = self
                    .engine
                    .ask_in_turn(
                        first,
                        fallbacks,
                        &format!("execution {}", self.execution.id),
                    )
                    .await?;
                let notes = answered.notes();
                let crate::run::ask::Answered {
                    request,
                    response,
                    tried,
                } = answered;
                let mut output = json!({
                    "response": response.text,
                    "usage": {"input_tokens": response.usage.input_tokens, "output_tokens": response.usage.output_tokens},
                    "cost_usd": response.cost,
                    "model": response.model,
                    "provider": request.provider,
                    "latency_ms": started.elapsed().as_millis() as u64,
                });
                if !response.tool_calls.is_empty() {
                    output["tool_calls"] = json!(response.tool_calls);
                }
                if !tried.is_empty() {
                    // What happened, in the step's record: each model that failed, and which
                    // answered.
                    output["notes"] = Value::Array(notes);
                    output["fell_back_from"] = Value::Array(tried);
                }
                let mut usage = response.usage;
                let mut cost = response.cost;
                match schema {
                    Some(schema) => {
                        let (value, repaired) = self
                            .structured(schema, &request, &response, &mut usage, &mut cost)
                            .await?;
                        if let Some((problems, text)) = repaired {
                            output["repaired"] = json!(problems);
                            output["response"] = json!(text);
                        }
                        if let (Value::Object(fields), Value::Object(own)) = (&value, &mut output) {
                            // The answer's fields are the step's own too, where they do not
                            // take the place of what every `llm` step says.
                            for (name, field) in fields {
                                if !own.contains_key(name) {
                                    own.insert(name.clone(), field.clone());
                                }
                            }
                        }
                        output["json"] = value;
                        output["usage"] = json!({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens});
                        output["cost_usd"] = json!(cost);
                    }
                    None if request.json => {
                        let parsed = transform::extract_json(&response.text).map_err(|error| {
                            StepError::transient(format!(
                                "the model was asked for JSON but answered with none: {}",
                                error.message
                            ))
                            .with_spent(usage, cost)
                        })?;
                        output["json"] = parsed;
                    }
                    None => {}
                }
                Ok(Performed {
                    output,
                    usage,
                    cost,
                })
            }
            Prepared::Integration(call) => {
                self.engine.permit(self.org(), &call.service)?;
                let mut call = call.clone();
                if let Some(credentials) = &self.engine.credentials {
                    call.secret = credentials
                        .credential(self.org(), &call.service, call.credential.as_deref())
                        .await?;
                }
                if call.credential.is_some() && call.secret.is_none() {
                    return Err(StepError::permanent(format!(
                        "there is no {} credential named {:?}",
                        call.service,
                        call.credential.as_deref().unwrap_or_default()
                    )));
                }
                let result = match (&self.engine.credentials, call.secret.clone()) {
                    (Some(credentials), Some(secret)) => {
                        crate::connector::with_refresh(
                            credentials.as_ref(),
                            self.org(),
                            &call.service,
                            call.credential.as_deref(),
                            secret,
                            |secret| {
                                let mut call = call.clone();
                                call.secret = Some(secret);
                                async move { self.call(call).await }
                            },
                        )
                        .await
                    }
                    _ => self.call(call.clone()).await,
                };
                self.engine.record(self.org(), &call.service, &result);
                Ok(Performed::plain(transform::as_output(result?, "result")))
            }
        }
    }

    /// The answer's value when it matches the step's schema, else the model asked once more
    /// with what was wrong (its tokens and cost added): the value, and when it was asked
    /// again, the problems put right and the second answer.
    async fn structured(
        &self,
        schema: &OutputSchema,
        request: &LlmRequest,
        response: &crate::provider::LlmResponse,
        usage: &mut TokenUsage,
        cost: &mut Usd,
    ) -> Result<(Value, Option<(Vec<String>, String)>), StepError> {
        let problems = match schema.check(&response.text) {
            Ok(value) => return Ok((value, None)),
            Err(problems) => problems,
        };
        tracing::info!(
            execution = %self.execution.id,
            provider = %request.provider,
            model = %request.model,
            problems = %problems.join("; "),
            "the answer did not match the step's output schema: asking once more with what was wrong"
        );
        let again = LlmRequest {
            prompt: repair_prompt(&request.prompt, &response.text, &problems),
            ..request.clone()
        };
        let second = match self.engine.ask(again).await {
            Ok((_, second)) => second,
            Err((_, error)) => return Err(error.with_spent(*usage, *cost)),
        };
        *usage += second.usage;
        *cost += second.cost;
        match schema.check(&second.text) {
            Ok(value) => Ok((value, Some((problems, second.text)))),
            Err(still) => Err(StepError::permanent(format!(
                "the model's answer does not match the step's output_schema, also when asked again with what was wrong: {}",
                still.join("; ")
            ))
            .with_spent(*usage, *cost)),
        }
    }

    /// One action call, through the batcher when the service takes batches of it.
    /// What the service answers is cleared of the secret the call carried.
    async fn call(&self, call: ActionCall) -> Result<Value, StepError> {
        let connectors = self.engine.connectors.as_ref();
        let redactor = crate::redact::Redactor::of(call.secret.as_ref());
        let result = match connectors.batch_size(&call.service, &call.action) {
            0 | 1 => connectors.call(call).await,
            size => self.engine.batcher.call(connectors, call, size).await,
        };
        redactor.result(result)
    }

    /// Keeps the organization under the service's declared limit: waits in place for the
    /// next window when it is near; otherwise answers when the window opens and what to say,
    /// for the step to wait durably (its job released until then) without using an attempt.
    async fn throttle(&self, service: &str) -> Option<(DateTime<Utc>, StepError)> {
        use crate::throttle::Decision;
        /// The longest a step waits in place for the service's next window.
        const WAIT_IN_PLACE: std::time::Duration = std::time::Duration::from_secs(10);
        let limit = self.engine.connectors.rate_limit(service)?;
        let key = crate::throttle::service_key(self.org(), service);
        let mut waited = std::time::Duration::ZERO;
        loop {
            match self
                .engine
                .limiter
                .hit(&key, limit.requests, limit.per)
                .await
            {
                Ok(Decision::Allowed) => {
                    if !waited.is_zero() {
                        metrics::counter!("baton_service_window_waits_total", "service" => service.to_owned(), "how" => "in_place")
                            .increment(1);
                        metrics::histogram!("baton_service_window_wait_seconds", "service" => service.to_owned())
                            .record(waited.as_secs_f64());
                    }
                    return None;
                }
                Ok(Decision::Limited { retry_after }) if waited + retry_after <= WAIT_IN_PLACE => {
                    let pause = retry_after.max(std::time::Duration::from_millis(10));
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        // The attempt loop sees the cancellation next.
                        () = self.options.cancel.cancelled() => return None,
                    }
                    waited += pause;
                }
                Ok(Decision::Limited { retry_after }) => {
                    metrics::counter!("baton_service_window_waits_total", "service" => service.to_owned(), "how" => "parked")
                        .increment(1);
                    let opens = Utc::now()
                        + chrono::Duration::from_std(retry_after).unwrap_or_default()
                        + chrono::Duration::milliseconds(5);
                    let why = StepError::transient(format!(
                        "the organization made its {} calls to {service} allowed per {} s; the step goes on at {}",
                        limit.requests,
                        limit.per.as_secs().max(1),
                        opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ))
                    .with_retry_after(retry_after);
                    return Some((opens, why));
                }
                Err(error) => {
                    tracing::warn!(%error, service, "the rate limiter failed; the call goes ahead");
                    return None;
                }
            }
        }
    }

    /// Why and for how long calls to `service` are held back now, if they are.
    fn held_back(&self, service: &str) -> Option<(String, std::time::Duration)> {
        let breakers = self.engine.breakers.lock().expect("breaker lock");
        breakers.held_back(self.org(), service, Instant::now())
    }

    /// Waits for a person's answer; the execution goes to WAITING until [`super::Engine::answer`].
    async fn approval(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &Scope,
        previous: Option<&StepRun>,
    ) -> Result<Value, Failure> {
        let CompiledKind::Approval {
            message,
            approvers,
            timeout,
            on_timeout,
            default_answer,
        } = &step.kind
        else {
            unreachable!("approval() is called for approval steps")
        };
        let started = Instant::now();
        if let Some(waiting) = previous.filter(|run| run.state == StepState::Waiting) {
            let deadline = waiting
                .input
                .as_ref()
                .and_then(|input| input.get("deadline"))
                .and_then(Value::as_str)
                .and_then(parse_time);
            let mut run = waiting.clone();
            return match deadline {
                Some(deadline) if deadline <= Utc::now() => match on_timeout {
                    ApprovalTimeout::Fail => {
                        let limit = timeout
                            .map(|limit| DurationSpec::new(limit).to_string())
                            .unwrap_or_default();
                        Err(self
                            .fail(
                                run,
                                StepError::permanent(format!("nobody answered within {limit}")),
                                started,
                            )
                            .await)
                    }
                    ApprovalTimeout::Continue => {
                        let output = json!({"approved": null, "timed_out": true});
                        Ok(self.complete(&mut run, output, started).await?)
                    }
                    ApprovalTimeout::Default => {
                        let mut output = default_answer.clone().unwrap_or(Value::Null);
                        if let Value::Object(fields) = &mut output {
                            fields.insert("timed_out".into(), Value::Bool(true));
                        }
                        Ok(self.complete(&mut run, output, started).await?)
                    }
                },
                _ => Err(Failure::Halt(Halt::Waiting {
                    step: key.to_owned(),
                    resume_at: deadline,
                })),
            };
        }
        let mut run = self.new_run(key, StepState::Waiting, None, previous);
        if let Err(error) = self.count_step() {
            return Err(self.fail(run, error, started).await);
        }
        let message = match self.workflow.templates.render(message, scope) {
            Ok(message) => text_of(message),
            Err(error) => return Err(self.fail(run, StepError::permanent(error.0), started).await),
        };
        let deadline = timeout
            .and_then(|limit| chrono::Duration::from_std(limit).ok())
            .map(|limit| Utc::now() + limit);
        run.attempts = 1;
        run.input = Some(
            json!({"message": message, "approvers": approvers, "deadline": deadline.map(|time| time.to_rfc3339())}),
        );
        self.checkpoint(&run).await?;
        self.options.observer.step_started(key, run.attempts);
        Err(Failure::Halt(Halt::Waiting {
            step: key.to_owned(),
            resume_at: deadline,
        }))
    }

    /// A durable wait: the time to wake is checkpointed, so a restart keeps it.
    async fn delay(
        &self,
        step: &CompiledStep,
        key: &str,
        scope: &Scope,
        previous: Option<&StepRun>,
    ) -> Result<Value, Failure> {
        let CompiledKind::Delay { duration, until } = &step.kind else {
            unreachable!("delay() is called for delay steps")
        };
        let started = Instant::now();
        let (mut run, wake) = match previous.filter(|run| run.state == StepState::Waiting) {
            Some(waiting) => {
                let wake = waiting
                    .input
                    .as_ref()
                    .and_then(|input| input.get("until"))
                    .and_then(Value::as_str)
                    .and_then(parse_time);
                (waiting.clone(), wake.unwrap_or_else(Utc::now))
            }
            None => {
                let mut run = self.new_run(key, StepState::Waiting, None, previous);
                if let Err(error) = self.count_step() {
                    return Err(self.fail(run, error, started).await);
                }
                let wake = match (duration, until) {
                    (Some(duration), _) => {
                        Utc::now() + chrono::Duration::from_std(*duration).unwrap_or_default()
                    }
                    (None, Some(until)) => {
                        let rendered = match self.workflow.templates.render(until, scope) {
                            Ok(rendered) => text_of(rendered),
                            Err(error) => {
                                return Err(self
                                    .fail(run, StepError::permanent(error.0), started)
                                    .await);
                            }
                        };
                        match parse_time(&rendered) {
                            Some(time) => time,
                            None => {
                                return Err(self
                                    .fail(
                                        run,
                                        StepError::permanent(format!(
                                            "`until` is {rendered:?}, not an RFC 3339 time"
                                        )),
                                        started,
                                    )
                                    .await);
                            }
                        }
                    }
                    (None, None) => Utc::now(),
                };
                run.attempts = 1;
                run.input = Some(json!({"until": wake.to_rfc3339()}));
                (run, wake)
            }
        };
        if wake <= Utc::now() {
            let output = json!({"waited_until": wake.to_rfc3339()});
            return Ok(self.complete(&mut run, output, started).await?);
        }
        self.checkpoint(&run).await?;
        self.options.observer.step_started(key, run.attempts);
        Err(Failure::Halt(Halt::Waiting {
            step: key.to_owned(),
            resume_at: Some(wake),
        }))
    }
}

/// A step's kind, as metrics label it.
fn kind_of(prepared: &Prepared) -> &'static str {
    match prepared {
        Prepared::Llm(..) => "llm",
        Prepared::Integration(_) => "integration",
        Prepared::Transformation { .. } | Prepared::Calculate(_) => "transformation",
    }
}

/// The service a step calls (the provider, for a model), as metrics label it.
fn service_of(prepared: &Prepared) -> String {
    match prepared {
        Prepared::Llm(request, ..) => request.provider.clone(),
        Prepared::Integration(call) => call.service.clone(),
        _ => String::new(),
    }
}

pub(super) fn text_of(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|time| time.with_timezone(&Utc))
}
