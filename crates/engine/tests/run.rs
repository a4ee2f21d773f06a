//! Running workflows end to end on a real SQLite store: every step kind, every error path and
//! every guard, checked by the execution's state, outputs and checkpoints.

mod common;

use std::sync::Arc;
use std::time::Duration;

use baton_core::{ExecutionState, StepState, Usd};
use baton_engine::run::{Cancel, Outcome, RunOptions};
use baton_engine::{Limits, StepError};
use common::{FakeConnectors, Harness};
use serde_json::{Value, json};

fn seed_workflow() -> Value {
    json!({
      "id": "wf_email_draft", "name": "Draft Email Response", "version": "1.0",
      "steps": [
        {"id": "step_1", "type": "integration", "service": "gmail", "action": "read_email", "inputs": {"email_id": "{{trigger.email_id}}"}},
        {"id": "step_2", "type": "llm", "model": "gpt-4", "prompt": "Draft a response to this email:\n\n{{step_1.body}}", "inputs": {"context": {"company": "{{user.company}}"}}},
        {"id": "step_3", "type": "transformation", "action": "extract_json", "inputs": {"text": "{{step_2.response}}"}},
        {"id": "step_4", "type": "integration", "service": "gmail", "action": "save_draft", "inputs": {"to": "{{step_1.from}}", "subject": "Re: {{step_1.subject}}", "body": "{{step_3.draft}}"}}
      ]
    })
}

fn gmail() -> Arc<FakeConnectors> {
    FakeConnectors::new(|call, _| match call.action.as_str() {
        "read_email" => Ok(
            json!({"from": "ann@customer.com", "subject": "Invoice 42", "body": "Where is my invoice?"}),
        ),
        "save_draft" => Ok(json!({"draft_id": "d-1", "to": call.inputs["to"]})),
        other => Err(StepError::permanent(format!("unexpected {other}"))),
    })
}

#[tokio::test]
async fn the_seed_workflow_runs_end_to_end() {
    let harness = Harness::new(gmail()).await;
    harness.llm.answer(
        "Sure! ```json\n{\"draft\": \"Dear Ann, your invoice is attached.\"}\n```",
        120,
        30,
    );
    let (execution, outcome) = harness
        .start(&seed_workflow(), json!({"email_id": "m-1"}))
        .await;
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(execution.state, ExecutionState::Completed);

    let calls = harness.connectors.calls();
    assert_eq!(calls[0].inputs, json!({"email_id": "m-1"}));
    assert_eq!(
        calls[1].inputs,
        json!({"to": "ann@customer.com", "subject": "Re: Invoice 42", "body": "Dear Ann, your invoice is attached."})
    );
    assert_eq!(calls[1].idempotency_key, format!("{}:step_4", execution.id));
    let prompt = &harness.llm.requests()[0];
    assert_eq!(
        prompt.prompt,
        "Draft a response to this email:\n\nWhere is my invoice?"
    );
    assert_eq!(
        (prompt.provider.as_str(), prompt.model.as_str()),
        ("openai", "gpt-4")
    );

    assert_eq!(
        execution.output,
        Some(json!({"draft_id": "d-1", "to": "ann@customer.com"}))
    );
    assert_eq!(
        (execution.usage.input_tokens, execution.usage.output_tokens),
        (120, 30)
    );
    assert_eq!(execution.cost, Usd::from_micros(150));
    let steps = harness.steps(&execution).await;
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.step_key.as_str(), s.state))
            .collect::<Vec<_>>(),
        vec![
            ("step_1", StepState::Completed),
            ("step_2", StepState::Completed),
            ("step_3", StepState::Completed),
            ("step_4", StepState::Completed)
        ]
    );
    let llm = &steps[1];
    assert_eq!(
        llm.output.as_ref().unwrap()["usage"],
        json!({"input_tokens": 120, "output_tokens": 30})
    );
    assert_eq!(llm.output.as_ref().unwrap()["provider"], "openai");
    assert_eq!(
        llm.input.as_ref().unwrap()["inputs"],
        json!({"context": {"company": "Acme Ltd"}})
    );
    assert!(llm.started_at.unwrap() <= llm.finished_at.unwrap());
}

#[tokio::test]
async fn transformations_compute_filter_and_reshape() {
    let harness = Harness::new(gmail()).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_t", "name": "t", "steps": [
        {"id": "total", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.price * trigger.qty * 1.2"}},
        {"id": "hot", "type": "transformation", "action": "filter", "inputs": {"items": "{{ trigger.leads }}", "condition": "item.score >= 80"}},
        {"id": "names", "type": "transformation", "action": "jq", "inputs": {"program": "[.[] | .name]", "data": "{{ hot.items }}"}},
        {"id": "summary", "type": "transformation", "action": "set", "inputs": {"total": "{{ total.result }}", "count": "{{ hot.items | length }}", "names": "{{ names }}"}}
    ]}), json!({"price": 10, "qty": 3, "leads": [{"name": "a", "score": 90}, {"name": "b", "score": 20}, {"name": "c", "score": 80}]})).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    assert_eq!(
        execution.output,
        Some(json!({"total": 36.0, "count": 2, "names": {"result": ["a", "c"]}}))
    );
}

#[tokio::test]
async fn conditionals_say_which_branch_ran() {
    let harness = Harness::new(gmail()).await;
    let workflow = json!({"id": "wf_if", "name": "if", "steps": [
        {"id": "check", "type": "conditional", "condition": "trigger.score > 80",
         "then": [{"id": "hot", "type": "transformation", "action": "set", "inputs": {"label": "hot"}}],
         "else": [{"id": "cold", "type": "transformation", "action": "set", "inputs": {"label": "cold"}}]}
    ]});
    let (execution, _) = harness.start(&workflow, json!({"score": 91})).await;
    assert_eq!(
        execution.output,
        Some(json!({"branch": "then", "output": {"label": "hot"}}))
    );
    let (execution, _) = harness.start(&workflow, json!({"score": 3})).await;
    assert_eq!(
        execution.output,
        Some(json!({"branch": "else", "output": {"label": "cold"}}))
    );
    let keys: Vec<String> = harness
        .steps(&execution)
        .await
        .into_iter()
        .map(|s| s.step_key)
        .collect();
    assert_eq!(keys, vec!["check", "cold"]);
}

#[tokio::test]
async fn loops_run_each_item_in_order_with_a_concurrency_limit() {
    let connectors = FakeConnectors::slow(Duration::from_millis(30), |call, _| {
        Ok(json!({"sent": call.inputs["to"]}))
    });
    let harness = Harness::new(connectors).await;
    let started = std::time::Instant::now();
    let (execution, outcome) = harness.start(&json!({"id": "wf_loop", "name": "loop", "steps": [
        {"id": "each", "type": "loop", "items": "trigger.people", "as": "person", "concurrency": 4, "steps": [
            {"id": "send", "type": "integration", "service": "slack", "action": "post_message", "inputs": {"to": "{{ person }}", "n": "{{ loop.number }}"}}
        ]}
    ]}), json!({"people": ["a", "b", "c", "d", "e", "f", "g", "h"]})).await;
    assert_eq!(outcome, Outcome::Completed);
    let sent: Vec<Value> = execution
        .output
        .clone()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["sent"].clone())
        .collect();
    assert_eq!(
        sent,
        ["a", "b", "c", "d", "e", "f", "g", "h"]
            .map(Value::from)
            .to_vec()
    );
    assert!(
        started.elapsed() < Duration::from_millis(8 * 30),
        "4 at a time is faster than one by one: {:?}",
        started.elapsed()
    );
    let keys: Vec<String> = harness
        .steps(&execution)
        .await
        .into_iter()
        .map(|s| s.step_key)
        .collect();
    assert!(keys.contains(&"each[7].send".to_owned()), "{keys:?}");
}

#[tokio::test]
async fn a_loop_over_too_many_items_or_no_list_fails_clearly() {
    let harness = Harness::new(gmail()).await;
    let body = json!([{"id": "noop", "type": "transformation", "action": "set", "inputs": {}}]);
    let (execution, outcome) = harness.start(&json!({"id": "wf_big", "name": "big", "steps": [
        {"id": "each", "type": "loop", "items": "trigger.rows", "max_items": 3, "steps": body}
    ]}), json!({"rows": [1, 2, 3, 4]})).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(
        execution.error.unwrap()["message"],
        "the loop got 4 items; at most 3 are allowed"
    );
    let (execution, _) = harness
        .start(
            &json!({"id": "wf_bad", "name": "bad", "steps": [
                {"id": "each", "type": "loop", "items": "trigger.rows", "steps": body}
            ]}),
            json!({"rows": "not a list"}),
        )
        .await;
    assert_eq!(
        execution.error.unwrap()["message"],
        "the loop's items must be a list, but they are text"
    );
}

#[tokio::test]
async fn a_loop_whose_item_fails_is_failed_too_not_left_running() {
    let harness = Harness::new(gmail()).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_rows", "name": "rows", "steps": [
        {"id": "outer", "type": "conditional", "condition": "true", "then": [
            {"id": "each", "type": "loop", "items": "trigger.rows", "steps": [
                {"id": "double", "type": "transformation", "action": "calculate", "inputs": {"expression": "item.n * 2"}}
            ]}
        ], "else": []}
    ]}), json!({"rows": [{"n": 1}, {"m": 2}]})).await;
    assert_eq!(outcome, Outcome::Failed);
    let steps = harness.steps(&execution).await;
    let state = |key: &str| {
        steps
            .iter()
            .find(|step| step.step_key == key)
            .map(|step| step.state)
    };
    assert_eq!(state("each[0].double"), Some(StepState::Completed));
    assert_eq!(state("each[1].double"), Some(StepState::Failed));
    assert_eq!(state("each"), Some(StepState::Failed), "{steps:?}");
    assert_eq!(
        state("outer"),
        Some(StepState::Failed),
        "the enclosing step too"
    );
    let each = steps.iter().find(|step| step.step_key == "each").unwrap();
    assert!(
        each.error.as_ref().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("item"),
        "it carries the inner error: {:?}",
        each.error
    );
}

#[tokio::test]
async fn parallel_branches_run_together_and_fail_fast() {
    let connectors = FakeConnectors::slow(Duration::from_millis(50), |call, _| {
        match call.action.as_str() {
            "boom" => Err(StepError::permanent("the CRM refused the contact")),
            _ => Ok(json!({"ok": call.action})),
        }
    });
    let harness = Harness::new(connectors).await;
    let started = std::time::Instant::now();
    let (execution, outcome) = harness.start(&json!({"id": "wf_par", "name": "par", "steps": [
        {"id": "both", "type": "parallel", "branches": [
            [{"id": "left", "type": "integration", "service": "slack", "action": "left"}],
            [{"id": "right", "type": "integration", "service": "slack", "action": "right"}]
        ]},
        {"id": "after", "type": "transformation", "action": "set", "inputs": {"l": "{{ left.ok }}", "r": "{{ right.ok }}"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Completed);
    assert!(
        started.elapsed() < Duration::from_millis(95),
        "branches overlap: {:?}",
        started.elapsed()
    );
    assert_eq!(execution.output, Some(json!({"l": "left", "r": "right"})));

    let (execution, outcome) = harness.start(&json!({"id": "wf_par_fail", "name": "par", "steps": [
        {"id": "both", "type": "parallel", "branches": [
            [{"id": "fails", "type": "integration", "service": "hubspot", "action": "boom"}],
            [{"id": "slow", "type": "delay", "duration": "1h"}]
        ]}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(
        execution.error.unwrap()["message"],
        "the CRM refused the contact"
    );
}

#[tokio::test]
async fn transient_errors_are_retried_with_backoff_and_permanent_ones_are_not() {
    let connectors = FakeConnectors::new(|call, index| match (call.action.as_str(), index) {
        ("flaky", 1 | 2) => Err(StepError::transient("503 from the provider")),
        ("flaky", _) => Ok(json!({"ok": true})),
        _ => Err(StepError::permanent("401: the token was revoked")),
    });
    let harness = Harness::new(connectors).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_retry", "name": "r", "steps": [
        {"id": "call", "type": "integration", "service": "slack", "action": "flaky", "retry": {"base_delay": "10ms"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Completed);
    let steps = harness.steps(&execution).await;
    assert_eq!(
        (steps[0].attempts, steps[0].state),
        (3, StepState::Completed)
    );

    let (execution, outcome) = harness.start(&json!({"id": "wf_perm", "name": "p", "steps": [
        {"id": "call", "type": "integration", "service": "slack", "action": "revoked", "retry": {"base_delay": "10ms"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(
        harness.connectors.count("revoked"),
        1,
        "a permanent error is not retried"
    );
    assert_eq!(
        execution.error.unwrap(),
        json!({"step": "call", "class": "permanent", "message": "401: the token was revoked", "attempts": 1})
    );
}

#[tokio::test]
async fn a_retry_after_from_the_provider_is_honoured() {
    let connectors = FakeConnectors::new(|_, index| match index {
        1 => Err(StepError::transient("429 Too Many Requests")
            .with_retry_after(Duration::from_millis(300))),
        _ => Ok(json!({"ok": true})),
    });
    let harness = Harness::new(connectors).await;
    let started = std::time::Instant::now();
    let (_, outcome) = harness.start(&json!({"id": "wf_429", "name": "r", "steps": [
        {"id": "call", "type": "integration", "service": "slack", "action": "post", "retry": {"base_delay": "1ms"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Completed);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn on_error_continue_and_fallback_keep_the_execution_going() {
    let connectors = FakeConnectors::new(|call, _| match call.action.as_str() {
        "broken" => Err(StepError::permanent("404: no such channel")),
        _ => Ok(json!({"posted": true})),
    });
    let harness = Harness::new(connectors).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_onerr", "name": "e", "steps": [
        {"id": "tolerated", "type": "integration", "service": "slack", "action": "broken", "on_error": "continue"},
        {"id": "rescued", "type": "integration", "service": "slack", "action": "broken",
         "on_error": {"fallback": [{"id": "backup", "type": "integration", "service": "email", "action": "send"}]}},
        {"id": "report", "type": "transformation", "action": "set", "inputs": {"first": "{{ tolerated.error.message }}", "second": "{{ rescued.posted }}"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    assert_eq!(
        execution.output,
        Some(json!({"first": "404: no such channel", "second": true}))
    );
    let steps = harness.steps(&execution).await;
    let rescued = steps.iter().find(|s| s.step_key == "rescued").unwrap();
    assert_eq!(rescued.state, StepState::Completed);
    assert_eq!(
        rescued.error.as_ref().unwrap()["message"],
        "404: no such channel",
        "the original error is kept"
    );
}

#[tokio::test]
async fn a_missing_reference_fails_the_step_naming_the_path() {
    let harness = Harness::new(gmail()).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_missing", "name": "m", "steps": [
        {"id": "step_1", "type": "integration", "service": "gmail", "action": "read_email"},
        {"id": "step_2", "type": "transformation", "action": "template", "inputs": {"template": "Hi {{ step_1.sender }}"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(
        execution.error.unwrap()["message"],
        "`{{step_1.sender}}` is missing: step_1 has no field \"sender\""
    );
}

#[tokio::test]
async fn step_timeouts_and_the_execution_time_limit_hold() {
    let connectors =
        FakeConnectors::slow(Duration::from_millis(400), |_, _| Ok(json!({"ok": true})));
    let harness = Harness::new(connectors).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_slow", "name": "s", "steps": [
        {"id": "call", "type": "integration", "service": "slack", "action": "post", "timeout": "50ms", "retry": {"max_retries": 1, "base_delay": "1ms"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Failed);
    let error = execution.error.unwrap();
    assert_eq!(
        (error["message"].as_str(), error["attempts"].as_u64()),
        (Some("the step did not finish within 50ms"), Some(2))
    );

    let (execution, outcome) = harness
        .start(
            &json!({"id": "wf_long", "name": "l", "timeout": "100ms", "steps": [
                {"id": "call", "type": "integration", "service": "slack", "action": "post"}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(
        execution.error.unwrap()["message"],
        "the execution ran longer than its limit of 100ms"
    );
}

#[tokio::test]
async fn the_step_count_and_output_size_guards_hold() {
    let limits = Limits {
        max_steps: 5,
        max_output_bytes: 64,
        ..Limits::default()
    };
    let harness = Harness::with_limits(gmail(), limits).await;
    let (execution, _) = harness.start(&json!({"id": "wf_many", "name": "m", "steps": [
        {"id": "each", "type": "loop", "items": "trigger.rows", "steps": [{"id": "noop", "type": "transformation", "action": "set", "inputs": {}}]}
    ]}), json!({"rows": [1, 2, 3, 4, 5, 6]})).await;
    assert_eq!(
        execution.error.unwrap()["message"],
        "the execution ran more than 5 steps, its limit"
    );
    let (execution, _) = harness.start(&json!({"id": "wf_big", "name": "b", "steps": [
        {"id": "big", "type": "transformation", "action": "set", "inputs": {"text": "{{ trigger.text }}"}}
    ]}), json!({"text": "x".repeat(100)})).await;
    assert!(
        execution.error.unwrap()["message"]
            .as_str()
            .unwrap()
            .starts_with("the step's output is 111 bytes; at most 64")
    );
}

#[tokio::test]
async fn a_runaway_jq_program_fails_its_step_once_at_the_limit() {
    let limits = Limits {
        jq: baton_engine::jq::JqLimits {
            time: std::time::Duration::from_millis(100),
            memory: 64 << 20,
        },
        ..Limits::default()
    };
    let harness = Harness::with_limits(gmail(), limits).await;
    let started = std::time::Instant::now();
    let (execution, outcome) = harness
        .start(
            &json!({"id": "wf_jq", "name": "j", "steps": [
                {"id": "spin", "type": "transformation", "action": "jq", "timeout": "30s",
                 "inputs": {"program": "reduce range(1000000000000) as $i (0; .+1)"}}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(outcome, Outcome::Failed);
    let steps = harness.steps(&execution).await;
    assert_eq!(steps[0].attempts, 1, "a limit reached is not retried");
    assert!(
        execution.error.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("limit reached: the jq program ran longer than 100 ms")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn an_open_circuit_parks_the_step_without_calling_the_service_or_using_attempts() {
    let connectors = FakeConnectors::new(|_, _| Err(StepError::transient("connection reset")));
    let harness = Harness::new(connectors).await;
    let workflow = json!({"id": "wf_cb", "name": "cb", "steps": [
        {"id": "call", "type": "integration", "service": "hubspot", "action": "create_contact", "retry": {"max_retries": 0}}
    ]});
    for _ in 0..5 {
        harness.start(&workflow, json!({})).await;
    }
    assert_eq!(harness.connectors.count("create_contact"), 5);
    let asked = std::time::Instant::now();
    let (execution, outcome) = harness.start(&workflow, json!({})).await;
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "no 30 s sleep in place"
    );
    let Outcome::Waiting {
        resume_at: Some(resume_at),
        ..
    } = outcome
    else {
        panic!("the step waits for the cool-down: {outcome:?}");
    };
    let wait = (resume_at - chrono::Utc::now()).num_seconds();
    assert!(
        (20..=30).contains(&wait),
        "until the cool-down ends: {wait} s"
    );
    assert_eq!(
        harness.connectors.count("create_contact"),
        5,
        "the open circuit did not call hubspot"
    );
    let steps = harness.steps(&execution).await;
    assert_eq!(
        steps[0].attempts, 0,
        "waiting for the circuit uses no attempt"
    );
    let message = steps[0].error.as_ref().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with(
            "hubspot has failed 5 times in a row, so Baton is pausing calls to it (circuit open until "
        ) && message.contains(" UTC)"),
        "{message}"
    );
}

#[tokio::test]
async fn an_approval_waits_and_the_answer_resumes_the_execution() {
    let harness = Harness::new(FakeConnectors::new(|_, _| Ok(json!({"refunded": true})))).await;
    let workflow = json!({"id": "wf_approve", "name": "a", "steps": [
        {"id": "ask", "type": "approval", "message": "Send the refund of {{ trigger.amount }}?", "approvers": {"role": "admin"}},
        {"id": "decide", "type": "conditional", "condition": "ask.approved",
         "then": [{"id": "refund", "type": "integration", "service": "stripe", "action": "refund"}]}
    ]});
    let (execution, compiled) = harness.execution(&workflow, json!({"amount": "$40"})).await;
    let (waiting, outcome) = harness.run(&execution, &compiled).await;
    assert_eq!(
        outcome,
        Outcome::Waiting {
            step: "ask".into(),
            resume_at: None
        }
    );
    assert_eq!(waiting.state, ExecutionState::Waiting);
    let ask = &harness.steps(&waiting).await[0];
    assert_eq!(
        (ask.state, ask.input.as_ref().unwrap()["message"].as_str()),
        (StepState::Waiting, Some("Send the refund of $40?"))
    );

    harness
        .engine
        .answer(
            &waiting,
            &compiled,
            "ask",
            json!({"approved": true, "comment": "fine", "by": "boss@example.com"}),
        )
        .await
        .unwrap();
    let (done, outcome) = harness.run(&waiting, &compiled).await;
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(harness.connectors.count("refund"), 1);
    assert_eq!(done.state, ExecutionState::Completed);
    assert!(
        harness
            .engine
            .answer(&done, &compiled, "ask", json!({}))
            .await
            .is_err(),
        "a finished execution takes no answer"
    );
}

#[tokio::test]
async fn an_unanswered_approval_times_out_as_configured() {
    let harness = Harness::new(gmail()).await;
    for (on_timeout, expected) in [
        (
            "continue",
            Some(json!({"approved": null, "timed_out": true})),
        ),
        (
            "default",
            Some(json!({"approved": false, "timed_out": true})),
        ),
        ("fail", None),
    ] {
        let workflow = json!({"id": format!("wf_timeout_{on_timeout}"), "name": "t", "steps": [
            {"id": "ask", "type": "approval", "message": "ok?", "timeout": "50ms", "on_timeout": on_timeout, "default_answer": {"approved": false}}
        ]});
        let (execution, compiled) = harness.execution(&workflow, json!({})).await;
        let (waiting, outcome) = harness.run(&execution, &compiled).await;
        assert!(
            matches!(
                outcome,
                Outcome::Waiting {
                    resume_at: Some(_),
                    ..
                }
            ),
            "{outcome:?} {:?}",
            waiting.error
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        let (done, _) = harness.run(&waiting, &compiled).await;
        match expected {
            Some(output) => assert_eq!(done.output, Some(output), "{on_timeout}"),
            None => assert_eq!(
                done.error.unwrap()["message"],
                "nobody answered within 50ms"
            ),
        }
    }
}

#[tokio::test]
async fn a_delay_is_durable_and_ends_when_its_time_comes() {
    let harness = Harness::new(gmail()).await;
    let workflow = json!({"id": "wf_delay", "name": "d", "steps": [
        {"id": "wait", "type": "delay", "duration": "200ms"},
        {"id": "after", "type": "transformation", "action": "set", "inputs": {"done": true}}
    ]});
    let (execution, compiled) = harness.execution(&workflow, json!({})).await;
    let (waiting, outcome) = harness.run(&execution, &compiled).await;
    let Outcome::Waiting {
        resume_at: Some(wake),
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(waiting.state, ExecutionState::Waiting);
    let (still, outcome) = harness.run(&waiting, &compiled).await;
    assert!(
        matches!(outcome, Outcome::Waiting { .. }),
        "too early: still waiting"
    );
    tokio::time::sleep(
        (wake - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(20),
    )
    .await;
    let (done, outcome) = harness.run(&still, &compiled).await;
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(done.output, Some(json!({"done": true})));
}

#[tokio::test]
async fn a_sub_workflow_runs_as_a_child_execution() {
    let harness = Harness::new(gmail()).await;
    let child = json!({"id": "wf_child", "name": "child", "steps": [
        {"id": "greet", "type": "transformation", "action": "template", "inputs": {"template": "Hello {{ trigger.name }}"}}
    ]});
    harness.execution(&child, json!({})).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_parent", "name": "parent", "steps": [
        {"id": "call", "type": "sub_workflow", "workflow": "wf_child", "inputs": {"name": "{{ user.name }}"}},
        {"id": "use", "type": "transformation", "action": "set", "inputs": {"said": "{{ call.text }}"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    assert_eq!(execution.output, Some(json!({"said": "Hello Ann"})));

    // The child is changed: the next call runs its new version.
    let child_id = harness
        .store
        .workflow_by_key(harness.org, "wf_child")
        .await
        .unwrap()
        .unwrap()
        .id;
    harness
        .store
        .save_version(baton_core::workflow::NewVersion {
            org_id: harness.org,
            workflow_id: child_id,
            name: "child".into(),
            definition: json!({"id": "wf_child", "name": "child", "steps": [
                {"id": "greet", "type": "transformation", "action": "template", "inputs": {"template": "Hi {{ trigger.name }}"}}
            ]}),
            created_by: None,
            base_version: None,
            note: None,
        })
        .await
        .unwrap();
    let (execution, outcome) = harness.start(&json!({"id": "wf_parent", "name": "parent", "steps": [
        {"id": "call", "type": "sub_workflow", "workflow": "wf_child", "inputs": {"name": "{{ user.name }}"}},
        {"id": "use", "type": "transformation", "action": "set", "inputs": {"said": "{{ call.text }}"}}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    assert_eq!(execution.output, Some(json!({"said": "Hi Ann"})));

    let (execution, _) = harness
        .start(
            &json!({"id": "wf_orphan", "name": "o", "steps": [
                {"id": "call", "type": "sub_workflow", "workflow": "wf_nowhere"}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(
        execution.error.unwrap()["message"],
        "there is no workflow \"wf_nowhere\""
    );
}

#[tokio::test]
async fn a_resumed_execution_skips_finished_steps_and_reruns_the_one_in_flight() {
    let harness = Harness::new(gmail()).await;
    harness.llm.answer("{\"draft\": \"Hello again\"}", 10, 5);
    let (execution, compiled) = harness
        .execution(&seed_workflow(), json!({"email_id": "m-9"}))
        .await;
    // As if a process had run step_1 and died during step_2.
    let running = harness
        .store
        .transition(baton_core::execution::ExecutionUpdate::new(
            execution.id,
            ExecutionState::Pending,
            ExecutionState::Running,
            chrono::Utc::now(),
        ))
        .await
        .unwrap();
    let mut step_1 = baton_core::execution::StepRun {
        execution_id: execution.id,
        step_key: "step_1".into(),
        state: StepState::Completed,
        input: None,
        output: Some(json!({"from": "bob@customer.com", "subject": "Hi", "body": "Hello"})),
        error: None,
        attempts: 1,
        idempotency_key: format!("{}:step_1", execution.id),
        usage: Default::default(),
        cost: Usd::ZERO,
        started_at: None,
        finished_at: None,
    };
    harness.store.save_step_run(&step_1, None).await.unwrap();
    step_1.step_key = "step_2".into();
    step_1.state = StepState::Running;
    step_1.output = None;
    harness.store.save_step_run(&step_1, None).await.unwrap();

    let (done, outcome) = harness.run(&running, &compiled).await;
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(
        harness.connectors.count("read_email"),
        0,
        "the finished step is not repeated"
    );
    assert_eq!(harness.llm.requests().len(), 1);
    assert_eq!(
        harness.llm.requests()[0].idempotency_key,
        format!("{}:step_2", execution.id)
    );
    assert_eq!(
        harness.connectors.calls()[0].inputs["to"],
        "bob@customer.com"
    );
    let step_2 = harness
        .steps(&done)
        .await
        .into_iter()
        .find(|s| s.step_key == "step_2")
        .unwrap();
    assert_eq!(step_2.attempts, 2, "the interrupted attempt counts");
}

#[tokio::test]
async fn a_failed_execution_is_retried_from_the_failed_step() {
    let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = broken.clone();
    let connectors = FakeConnectors::new(move |call, _| match call.action.as_str() {
        "save_draft" if flag.load(std::sync::atomic::Ordering::SeqCst) => {
            Err(StepError::permanent("403: draft scope missing"))
        }
        "read_email" => Ok(json!({"from": "ann@customer.com", "subject": "S", "body": "B"})),
        _ => Ok(json!({"saved": true})),
    });
    let harness = Harness::new(connectors).await;
    harness.llm.answer("{\"draft\": \"D\"}", 1, 1);
    let (execution, compiled) = harness
        .execution(&seed_workflow(), json!({"email_id": "m-1"}))
        .await;
    let (failed, outcome) = harness.run(&execution, &compiled).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(failed.error.as_ref().unwrap()["step"], "step_4");

    broken.store(false, std::sync::atomic::Ordering::SeqCst);
    let pending = harness.engine.retry_failed(&failed).await.unwrap();
    assert_eq!(pending.state, ExecutionState::Pending);
    let (done, outcome) = harness.run(&pending, &compiled).await;
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(done.error, None);
    assert_eq!(
        harness.connectors.count("read_email"),
        1,
        "succeeded steps are not re-run"
    );
    assert_eq!(harness.llm.requests().len(), 1);
    assert_eq!(harness.connectors.count("save_draft"), 2);
}

#[tokio::test]
async fn cancelling_aborts_the_call_in_flight() {
    let connectors = FakeConnectors::slow(Duration::from_secs(30), |_, _| Ok(json!({})));
    let harness = Harness::new(connectors).await;
    let (execution, compiled) = harness
        .execution(
            &json!({"id": "wf_cancel", "name": "c", "steps": [
                {"id": "slow", "type": "integration", "service": "slack", "action": "post"},
                {"id": "never", "type": "integration", "service": "slack", "action": "never"}
            ]}),
            json!({}),
        )
        .await;
    let (canceller, cancel) = Cancel::new();
    let options = RunOptions {
        cancel,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let run = harness.engine.run(&execution, &compiled, &options);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    };
    let ((cancelled, outcome), ()) = tokio::join!(async { run.await.unwrap() }, stop);
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!(cancelled.state, ExecutionState::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(harness.connectors.count("never"), 0);
    assert_eq!(
        harness.steps(&cancelled).await[0].state,
        StepState::Cancelled
    );
}

#[tokio::test]
async fn wait_all_lets_every_branch_finish_before_failing() {
    let connectors = FakeConnectors::slow(Duration::from_millis(30), |call, _| {
        match call.action.as_str() {
            "boom" => Err(StepError::permanent("the CRM refused the contact")),
            _ => Ok(json!({"ok": true})),
        }
    });
    let harness = Harness::new(connectors).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_all", "name": "all", "steps": [
        {"id": "both", "type": "parallel", "mode": "wait_all", "branches": [
            [{"id": "fails", "type": "integration", "service": "hubspot", "action": "boom"}],
            [{"id": "first", "type": "integration", "service": "slack", "action": "one"},
             {"id": "second", "type": "integration", "service": "slack", "action": "two"}]
        ]}
    ]}), json!({})).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(
        execution.error.unwrap()["message"],
        "the CRM refused the contact"
    );
    assert_eq!(
        harness.connectors.count("two"),
        1,
        "the other branch ran to its end"
    );
}

#[tokio::test]
async fn sub_workflows_nest_only_so_deep() {
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    let harness = Harness::with_limits(gmail(), limits).await;
    let recursive = json!({"id": "wf_self", "name": "self", "steps": [
        {"id": "again", "type": "sub_workflow", "workflow": "wf_self"}
    ]});
    let (execution, outcome) = harness.start(&recursive, json!({})).await;
    assert_eq!(outcome, Outcome::Failed);
    let message = execution.error.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("sub-workflows nest deeper than 2 levels"),
        "{message}"
    );
}

#[tokio::test]
async fn a_run_and_its_sub_workflows_start_only_so_many_executions() {
    let limits = Limits {
        max_descendants: 20,
        ..Limits::default()
    };
    let harness = Harness::with_limits(gmail(), limits).await;
    // Each level calls itself twice and goes on when a call fails: 2 + 4 + ... + 256 = 510
    // child executions without a limit.
    let doubling = json!({"id": "wf_twice", "name": "twice", "steps": [
        {"id": "one", "type": "sub_workflow", "workflow": "wf_twice", "on_error": "continue"},
        {"id": "two", "type": "sub_workflow", "workflow": "wf_twice", "on_error": "continue"}
    ]});
    harness.start(&doubling, json!({})).await;
    let steps = harness
        .store
        .list_executions(
            harness.org,
            &Default::default(),
            baton_core::page::PageRequest::first(500),
        )
        .await
        .unwrap();
    let mut messages = Vec::new();
    for execution in &steps.items {
        for step in harness.steps(execution).await {
            if let Some(error) = step.error {
                messages.push(error["message"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    assert!(
        messages
            .iter()
            .any(|message| message.contains("started more than 20 sub-workflow executions")),
        "{messages:?}"
    );
    let all = harness
        .store
        .list_executions(
            harness.org,
            &Default::default(),
            baton_core::page::PageRequest::first(500),
        )
        .await
        .unwrap();
    assert!(all.items.len() <= 21, "{} executions", all.items.len());
}

#[tokio::test]
async fn parallel_branches_call_out_only_so_many_at_once() {
    let limits = Limits {
        max_concurrent_calls: 4,
        ..Limits::default()
    };
    let connectors = FakeConnectors::slow(std::time::Duration::from_millis(30), |_, _| {
        Ok(json!({"ok": true}))
    });
    let harness = Harness::with_limits(connectors, limits.clone()).await;
    let branches: Vec<Value> = (0..40)
        .map(|n| json!([{"id": format!("call_{n}"), "type": "integration", "service": "crm", "action": "ping"}]))
        .collect();
    let (_, outcome) = harness
        .start(
            &json!({"id": "wf_wide", "name": "wide", "steps": [
                {"id": "fan", "type": "parallel", "branches": branches}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(harness.connectors.count("ping"), 40);
    let most = harness
        .connectors
        .most_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(most, 4, "at most 4 calls at once, not 40");

    let problems = baton_engine::validate_document(
        &json!({"id": "wf_loop", "name": "l", "steps": [
            {"id": "each", "type": "loop", "items": "{{ trigger.rows }}", "concurrency": 80, "steps": [
                {"id": "call", "type": "integration", "service": "crm", "action": "ping"}
            ]}
        ]}),
        &baton_engine::CompileOptions {
            limits: &limits,
            connectors: harness.connectors.as_ref(),
            extra_providers: &[],
        },
    )
    .err()
    .unwrap();
    assert_eq!(
        problems[0].to_string(),
        "$.steps[0].concurrency: is 80; at most 50 items may run at once (BATON_MAX_CONCURRENCY)"
    );
}

#[test]
fn a_schedule_runs_at_most_every_minute_by_default() {
    let connectors = baton_engine::connector::NoConnectors;
    let limits = Limits::default();
    let options = baton_engine::CompileOptions {
        limits: &limits,
        connectors: &connectors,
        extra_providers: &[],
    };
    let every_second = json!({"id": "wf_fast", "name": "f", "trigger": {"type": "schedule", "cron": "* * * * * *"}, "steps": [
        {"id": "a", "type": "transformation", "action": "set", "inputs": {}}
    ]});
    let problems = baton_engine::validate_document(&every_second, &options)
        .err()
        .unwrap();
    assert!(
        problems[0].to_string().starts_with(
            "$.trigger.cron: \"* * * * * *\" runs 1s apart; schedules may run at most every 1m"
        ),
        "{}",
        problems[0]
    );
    let every_minute = json!({"id": "wf_ok", "name": "ok", "trigger": {"type": "schedule", "cron": "* * * * *"}, "steps": [
        {"id": "a", "type": "transformation", "action": "set", "inputs": {}}
    ]});
    assert!(baton_engine::validate_document(&every_minute, &options).is_ok());
}

#[tokio::test]
async fn a_fallback_model_answers_when_the_first_provider_fails_for_a_passing_reason() {
    let harness = Harness::new(gmail()).await;
    harness
        .llm
        .fail(StepError::transient("openai answered HTTP 503: overloaded"))
        .answer("Dear Ann, it is on its way.", 40, 10);
    let workflow = json!({"id": "wf_fallback", "name": "f", "steps": [
        {"id": "draft", "type": "llm", "model": "gpt-4o", "prompt": "Reply to Ann",
         "fallback": ["claude-sonnet-4-5", "gemini-2.5-flash"], "retry": {"max_retries": 0}}
    ]});
    let (execution, outcome) = harness.start(&workflow, json!({})).await;
    assert_eq!(outcome, Outcome::Completed);
    let asked: Vec<(String, String)> = harness
        .llm
        .requests()
        .into_iter()
        .map(|request| (request.provider, request.model))
        .collect();
    assert_eq!(
        asked,
        [
            ("openai".to_owned(), "gpt-4o".to_owned()),
            ("anthropic".to_owned(), "claude-sonnet-4-5".to_owned())
        ],
        "the second model answered; the third was not asked"
    );
    let output = execution.output.clone().unwrap();
    assert_eq!(output["provider"], "anthropic");
    assert_eq!(output["model"], "claude-sonnet-4-5");
    assert_eq!(output["fell_back_from"][0]["provider"], "openai");
    assert!(
        output["fell_back_from"][0]["error"]
            .as_str()
            .unwrap()
            .contains("503")
    );

    // A permanent refusal is not a reason to ask another model.
    harness.llm.fail(StepError::permanent(
        "openai answered HTTP 400: bad request",
    ));
    let (execution, outcome) = harness.start(&workflow, json!({})).await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(harness.llm.requests().len(), 3);
    assert!(
        execution.error.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("400")
    );
}

#[tokio::test]
async fn calls_stay_under_the_services_declared_limit() {
    use baton_engine::throttle::RateLimit;
    let window = Duration::from_millis(400);
    let connectors = FakeConnectors::limited(
        RateLimit {
            requests: 2,
            per: window,
        },
        |_, index| Ok(json!({"n": index})),
    );
    let harness = Harness::new(connectors.clone()).await;
    let (_, outcome) = harness.start(&json!({"id": "wf_limited", "name": "limited", "steps": [
        {"id": "each", "type": "loop", "items": "trigger.rows", "concurrency": 5, "steps": [
            {"id": "send", "type": "integration", "service": "slack", "action": "post_message", "inputs": {"n": "{{ loop.number }}"}}
        ]}
    ]}), json!({"rows": [1, 2, 3, 4, 5]})).await;
    assert_eq!(outcome, Outcome::Completed);
    let times = connectors.times.lock().unwrap().clone();
    assert_eq!(times.len(), 5);
    let first = times[0];
    // Two calls a window: five calls span at least two full windows after the first.
    let span = times.iter().max().unwrap().duration_since(first);
    assert!(span >= window * 2 - Duration::from_millis(50), "{span:?}");
    for later in &times[2..] {
        let since = later.duration_since(first);
        assert!(
            since >= window - Duration::from_millis(50),
            "the third call waited: {since:?}"
        );
    }
    let quota = harness.engine.quota(harness.org, "slack").await.unwrap();
    assert_eq!(quota.limit.requests, 2);
    assert!(quota.used >= 1 && quota.remaining == 2 - quota.used);
}

/// A limiter whose window stays shut, ten minutes away, until the test opens it.
#[derive(Default)]
struct Gate(std::sync::atomic::AtomicBool);

#[async_trait::async_trait]
impl baton_engine::throttle::Limiter for Gate {
    async fn hit(
        &self,
        _key: &str,
        _limit: u32,
        _window: Duration,
    ) -> Result<baton_engine::throttle::Decision, String> {
        Ok(if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            baton_engine::throttle::Decision::Allowed
        } else {
            baton_engine::throttle::Decision::Limited {
                retry_after: Duration::from_secs(600),
            }
        })
    }

    async fn usage(&self, _key: &str, window: Duration) -> Result<(u32, Duration), String> {
        Ok((0, window))
    }
}

#[tokio::test]
async fn a_limit_too_far_off_makes_the_step_wait_without_using_its_attempts() {
    use baton_engine::throttle::RateLimit;
    let connectors = FakeConnectors::limited(
        RateLimit {
            requests: 50,
            per: Duration::from_secs(60),
        },
        |_, index| Ok(json!({"n": index})),
    );
    let gate = Arc::new(Gate::default());
    let mut harness = Harness::new(connectors.clone()).await;
    harness.engine = harness.engine.with_limiter(gate.clone());
    let workflow = json!({"id": "wf_far", "name": "far", "steps": [
        {"id": "post", "type": "integration", "service": "slack", "action": "post_message", "inputs": {}, "retry": {"max_retries": 0}}
    ]});
    let (execution, compiled) = harness.execution(&workflow, json!({})).await;
    let (waiting, outcome) = harness.run(&execution, &compiled).await;
    let Outcome::Waiting {
        step,
        resume_at: Some(opens),
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(step, "post");
    let until = (opens - chrono::Utc::now()).num_seconds();
    assert!((595..=601).contains(&until), "{until} s");
    assert_eq!(
        waiting.state,
        ExecutionState::Waiting,
        "its job is released"
    );
    assert!(connectors.calls().is_empty(), "no call is made");
    let post = &harness.steps(&waiting).await[0];
    assert_eq!(post.state, StepState::Waiting);
    assert_eq!(post.attempts, 0, "waiting uses no attempt");
    let message = post.error.as_ref().unwrap()["message"].to_string();
    assert!(
        message.contains("allowed per 60 s") && message.contains("goes on at"),
        "{message}"
    );

    let refused = harness
        .engine
        .answer(&waiting, &compiled, "post", json!({"approved": true}))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("not an approval"), "{refused}");

    // Looked at again while the window is shut: it waits again, and its one attempt is kept.
    let (still, outcome) = harness.run(&waiting, &compiled).await;
    assert!(matches!(outcome, Outcome::Waiting { .. }), "{outcome:?}");
    assert_eq!(harness.steps(&still).await[0].attempts, 0);

    gate.0.store(true, std::sync::atomic::Ordering::SeqCst);
    let (done, outcome) = harness.run(&still, &compiled).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", done.error);
    assert_eq!(connectors.calls().len(), 1);
    let post = &harness.steps(&done).await[0];
    assert_eq!(post.state, StepState::Completed);
    assert_eq!(post.attempts, 1);
    assert_eq!(post.error, None);
}

#[tokio::test]
async fn a_loop_over_a_shut_limit_waits_then_makes_every_call_once() {
    use baton_engine::throttle::RateLimit;
    let connectors = FakeConnectors::limited(
        RateLimit {
            requests: 50,
            per: Duration::from_secs(60),
        },
        |call, _| Ok(json!({"n": call.inputs["n"]})),
    );
    let gate = Arc::new(Gate::default());
    let mut harness = Harness::new(connectors.clone()).await;
    harness.engine = harness.engine.with_limiter(gate.clone());
    let workflow = json!({"id": "wf_fan", "name": "fan", "steps": [
        {"id": "each", "type": "loop", "items": "trigger.rows", "concurrency": 3, "steps": [
            {"id": "post", "type": "integration", "service": "slack", "action": "post_message", "inputs": {"n": "{{ item }}"}}
        ]}
    ]});
    let (execution, compiled) = harness
        .execution(&workflow, json!({"rows": [1, 2, 3, 4, 5]}))
        .await;
    let (waiting, outcome) = harness.run(&execution, &compiled).await;
    assert!(matches!(outcome, Outcome::Waiting { .. }), "{outcome:?}");
    assert!(connectors.calls().is_empty());
    gate.0.store(true, std::sync::atomic::Ordering::SeqCst);
    let (done, outcome) = harness.run(&waiting, &compiled).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", done.error);
    let mut sent: Vec<i64> = connectors
        .calls()
        .iter()
        .map(|call| call.inputs["n"].as_i64().unwrap())
        .collect();
    sent.sort();
    assert_eq!(sent, vec![1, 2, 3, 4, 5], "each item once");
}

#[tokio::test]
async fn calls_made_together_go_in_batches_and_each_keeps_its_result() {
    let connectors = FakeConnectors::batching(10, |call, _| {
        let n = call.inputs["n"].as_i64().unwrap();
        if n == 7 {
            Err(StepError::permanent("no such message"))
        } else {
            Ok(json!({"read": n}))
        }
    });
    let harness = Harness::new(connectors.clone()).await;
    let (execution, outcome) = harness.start(&json!({"id": "wf_batch", "name": "batch", "steps": [
        {"id": "each", "type": "loop", "items": "trigger.rows", "concurrency": 30, "steps": [
            {"id": "read", "type": "integration", "service": "gmail", "action": "read", "inputs": {"n": "{{ item }}"}, "on_error": "continue"}
        ]}
    ]}), json!({"rows": (1..=30).collect::<Vec<i64>>()})).await;
    assert_eq!(outcome, Outcome::Completed);
    let batches = connectors.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 30, "{batches:?}");
    assert!(
        batches.len() < 30 && batches.iter().all(|size| *size <= 10),
        "{batches:?}"
    );
    assert!(batches.iter().any(|size| *size > 1), "{batches:?}");
    let output = execution.output.clone().unwrap();
    assert_eq!(output[0]["read"], 1);
    assert_eq!(output[29]["read"], 30, "each item gets its own answer");
    let steps = harness.steps(&execution).await;
    let seventh = steps
        .iter()
        .find(|step| step.step_key == "each[6].read")
        .unwrap();
    assert_eq!(
        seventh.error.as_ref().unwrap()["message"],
        "no such message",
        "one failure stays its own"
    );
    let eighth = steps
        .iter()
        .find(|step| step.step_key == "each[7].read")
        .unwrap();
    assert_eq!(eighth.output.clone().unwrap()["read"], 8);
}

/// An execution store whose checkpoint writes fail as if the database were restarting, a few
/// times, then work: everything else goes to the store underneath.
struct Restarting {
    inner: Arc<dyn baton_store::Store>,
    outages: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl baton_store::ExecutionStore for Restarting {
    async fn create_execution(
        &self,
        execution: baton_core::execution::NewExecution,
    ) -> baton_store::Result<baton_core::execution::Execution> {
        self.inner.create_execution(execution).await
    }
    async fn create_execution_with_job(
        &self,
        execution: baton_core::execution::NewExecution,
        job: baton_core::job::NewJob,
    ) -> baton_store::Result<(baton_core::execution::Execution, baton_core::job::Job)> {
        self.inner.create_execution_with_job(execution, job).await
    }
    async fn create_delivered_execution(
        &self,
        execution: baton_core::execution::NewExecution,
        job: baton_core::job::NewJob,
        delivery: baton_store::Delivery<'_>,
    ) -> baton_store::Result<(baton_core::execution::Execution, bool)> {
        self.inner
            .create_delivered_execution(execution, job, delivery)
            .await
    }
    async fn prune_deliveries(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> baton_store::Result<u64> {
        self.inner.prune_deliveries(before).await
    }
    async fn execution(
        &self,
        org: baton_core::OrgId,
        id: baton_core::ExecutionId,
    ) -> baton_store::Result<Option<baton_core::execution::Execution>> {
        self.inner.execution(org, id).await
    }
    async fn transition(
        &self,
        update: baton_core::execution::ExecutionUpdate,
    ) -> baton_store::Result<baton_core::execution::Execution> {
        self.inner.transition(update).await
    }
    async fn resume_failed(
        &self,
        id: baton_core::ExecutionId,
        version: i32,
        forget: &[String],
    ) -> baton_store::Result<baton_core::execution::Execution> {
        self.inner.resume_failed(id, version, forget).await
    }
    async fn list_executions(
        &self,
        org: baton_core::OrgId,
        filter: &baton_core::execution::ExecutionFilter,
        page: baton_core::page::PageRequest,
    ) -> baton_store::Result<baton_core::page::Page<baton_core::execution::Execution>> {
        self.inner.list_executions(org, filter, page).await
    }
    async fn save_step_run(
        &self,
        run: &baton_core::execution::StepRun,
        fence: Option<baton_core::job::Fence>,
    ) -> baton_store::Result<()> {
        let left = self.outages.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.outages
                .store(left - 1, std::sync::atomic::Ordering::SeqCst);
            return Err(baton_store::StoreError::Connect(
                "connection refused".into(),
            ));
        }
        self.inner.save_step_run(run, fence).await
    }
    async fn step_runs(
        &self,
        execution: baton_core::ExecutionId,
    ) -> baton_store::Result<Vec<baton_core::execution::StepRun>> {
        self.inner.step_runs(execution).await
    }
    async fn record_finished_execution(
        &self,
        execution: &baton_core::execution::Execution,
        steps: &[baton_core::execution::StepRun],
    ) -> baton_store::Result<()> {
        self.inner.record_finished_execution(execution, steps).await
    }
}

#[tokio::test]
async fn a_database_restart_during_a_checkpoint_pauses_the_run_instead_of_failing_it() {
    let harness = Harness::new(gmail()).await;
    let (execution, compiled) = harness
        .execution(
            &json!({"id": "wf_outage", "name": "o", "steps": [
                {"id": "call", "type": "integration", "service": "gmail", "action": "read_email", "inputs": {}}
            ]}),
            json!({}),
        )
        .await;
    let restarting = Restarting {
        inner: harness.store.clone(),
        outages: std::sync::atomic::AtomicU32::new(3),
    };
    let (finished, outcome) = harness
        .engine
        .run_on(&restarting, &execution, &compiled, &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Completed, "{:?}", finished.error);
    assert_eq!(finished.state, ExecutionState::Completed);
    assert_eq!(harness.connectors.count("read_email"), 1);
}

/// A lease another worker took over while this one was paused.
struct Lost;

#[async_trait::async_trait]
impl baton_engine::LeaseCheck for Lost {
    async fn held(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn a_run_whose_lease_was_lost_sends_nothing_more_and_leaves_the_execution_running() {
    let harness = Harness::new(gmail()).await;
    let (execution, compiled) = harness
        .execution(
            &json!({"id": "wf_lease", "name": "l", "steps": [
                {"id": "shape", "type": "transformation", "action": "set", "inputs": {"a": 1}},
                {"id": "call", "type": "integration", "service": "gmail", "action": "read_email", "inputs": {}}
            ]}),
            json!({}),
        )
        .await;
    let options = RunOptions {
        lease: Some(Arc::new(Lost)),
        ..RunOptions::default()
    };
    let result = harness.engine.run(&execution, &compiled, &options).await;
    assert!(
        matches!(&result, Err(baton_engine::EngineError::Interrupted(reason)) if reason.contains("lease was lost")),
        "{result:?}"
    );
    assert_eq!(
        harness.connectors.count("read_email"),
        0,
        "no call went out"
    );
    let stored = harness
        .store
        .execution(harness.org, execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.state,
        ExecutionState::Running,
        "left for the worker that holds the job"
    );
}

/// A worker that still believes it holds its job (it last confirmed the lease a moment before
/// it was paused), but another worker claimed the job since.
struct TakenOver(baton_core::job::Fence);

#[async_trait::async_trait]
impl baton_engine::LeaseCheck for TakenOver {
    async fn held(&self) -> bool {
        true
    }

    fn fence(&self) -> Option<baton_core::job::Fence> {
        Some(self.0)
    }
}

#[tokio::test]
async fn a_run_under_a_lease_taken_over_writes_nothing_and_sends_nothing() {
    let harness = Harness::new(gmail()).await;
    let (execution, compiled) = harness
        .execution(
            &json!({"id": "wf_fenced", "name": "f", "steps": [
                {"id": "call", "type": "integration", "service": "gmail", "action": "read_email", "inputs": {}}
            ]}),
            json!({}),
        )
        .await;
    let now = chrono::Utc::now();
    harness
        .store
        .enqueue(baton_core::job::NewJob {
            org_id: harness.org,
            execution_id: execution.id,
            kind: "run".into(),
            payload: json!({}),
            run_at: now,
            workflow_id: execution.workflow_id,
            workflow_limit: None,
        })
        .await
        .unwrap();
    let claim = |worker: &str, at| baton_core::job::Claim {
        worker: worker.into(),
        now: at,
        lease: chrono::Duration::seconds(30),
        per_organization: baton_core::job::DEFAULT_PER_ORGANIZATION,
    };
    let paused = harness
        .store
        .claim(&claim("paused", now))
        .await
        .unwrap()
        .unwrap();
    let heir = harness
        .store
        .claim(&claim("heir", now + chrono::Duration::seconds(31)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heir.id, paused.id);
    let options = RunOptions {
        lease: Some(Arc::new(TakenOver(baton_core::job::Fence {
            job: paused.id,
            generation: paused.attempts,
        }))),
        ..RunOptions::default()
    };
    // Before the heir started it (the start is refused), and after (the first checkpoint is).
    for expected in [ExecutionState::Pending, ExecutionState::Running] {
        let current = harness
            .store
            .execution(harness.org, execution.id)
            .await
            .unwrap()
            .unwrap();
        let result = harness.engine.run(&current, &compiled, &options).await;
        assert!(
            matches!(&result, Err(baton_engine::EngineError::Interrupted(reason)) if reason.contains("claimed by another worker")),
            "{result:?}"
        );
        assert_eq!(
            harness.connectors.count("read_email"),
            0,
            "no call went out"
        );
        assert!(
            harness
                .store
                .step_runs(execution.id)
                .await
                .unwrap()
                .is_empty(),
            "no checkpoint was written"
        );
        let stored = harness
            .store
            .execution(harness.org, execution.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.state, expected, "left to the heir");
        if expected == ExecutionState::Pending {
            // The heir starts it.
            let mut start = baton_core::execution::ExecutionUpdate::new(
                execution.id,
                ExecutionState::Pending,
                ExecutionState::Running,
                chrono::Utc::now(),
            );
            start.fence = Some(baton_core::job::Fence {
                job: heir.id,
                generation: heir.attempts,
            });
            harness.store.transition(start).await.unwrap();
        }
    }
}

/// Two processes on one database: the first sees a service fail until its circuit opens; the
/// second, which has never called the service, holds its calls back at once.
#[tokio::test]
async fn a_circuit_opened_in_one_process_holds_back_the_others() {
    let failing = FakeConnectors::new(|_, _| Err(StepError::transient("connection reset")));
    let harness = Harness::new(failing.clone()).await;
    let process = |connectors: Arc<FakeConnectors>| {
        baton_engine::Engine::new(
            harness.store.clone(),
            harness.llm.clone(),
            connectors,
            Limits::default(),
        )
        .with_shared_circuits(harness.store.clone() as Arc<dyn baton_store::CircuitStore>)
    };
    let first = process(failing.clone());
    let elsewhere = FakeConnectors::new(|_, _| Ok(json!({"id": 1})));
    let second = process(elsewhere.clone());
    let workflow = json!({"id": "wf_shared_cb", "name": "cb", "steps": [
        {"id": "call", "type": "integration", "service": "hubspot", "action": "create_contact", "retry": {"max_retries": 0}}
    ]});
    for _ in 0..5 {
        let (execution, compiled) = harness.execution(&workflow, json!({})).await;
        first
            .run(&execution, &compiled, &RunOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(failing.count("create_contact"), 5);
    for _ in 0..100 {
        if !harness
            .store
            .open_circuits(chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (execution, compiled) = harness.execution(&workflow, json!({})).await;
    let (_, outcome) = second
        .run(&execution, &compiled, &RunOptions::default())
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Waiting {
                resume_at: Some(_),
                ..
            }
        ),
        "the step waits for the cool-down the first process started: {outcome:?}"
    );
    assert_eq!(
        elsewhere.count("create_contact"),
        0,
        "the second process did not call hubspot"
    );
    let steps = harness.steps(&execution).await;
    let message = steps[0].error.as_ref().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("circuit open"), "{message}");
}

/// The seed's workflow with the answer's shape given: a model that writes prose around its
/// JSON, or picks its own keys, no longer breaks `{{step_3.draft}}`.
fn seed_workflow_with_schema() -> Value {
    let mut workflow = seed_workflow();
    workflow["steps"][1]["output_schema"] = json!({
        "type": "object",
        "properties": {"draft": {"type": "string", "minLength": 1}},
        "required": ["draft"]
    });
    workflow
}

#[tokio::test]
async fn an_answer_in_the_steps_shape_gives_the_step_its_fields() {
    let harness = Harness::new(gmail()).await;
    harness.llm.answer(
        "{\"draft\": \"Dear Ann, your invoice is attached.\"}",
        100,
        20,
    );
    let (execution, outcome) = harness
        .start(&seed_workflow_with_schema(), json!({"email_id": "m-1"}))
        .await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    let asked = &harness.llm.requests()[0];
    assert!(asked.json);
    assert_eq!(asked.schema.as_ref().unwrap()["required"], json!(["draft"]));
    let steps = harness.steps(&execution).await;
    let output = steps[1].output.clone().unwrap();
    assert_eq!(output["draft"], "Dear Ann, your invoice is attached.");
    assert_eq!(
        output["json"]["draft"],
        "Dear Ann, your invoice is attached."
    );
    assert!(output.get("repaired").is_none());
    assert_eq!(
        harness.connectors.calls()[1].inputs["body"],
        "Dear Ann, your invoice is attached."
    );
}

#[tokio::test]
async fn an_answer_out_of_shape_is_asked_for_again_once_with_what_was_wrong() {
    let harness = Harness::new(gmail()).await;
    harness
        .llm
        .answer("{\"reply\": \"Dear Ann\"}", 100, 20)
        .answer("{\"draft\": \"Dear Ann, here it is.\"}", 150, 25);
    let (execution, outcome) = harness
        .start(&seed_workflow_with_schema(), json!({"email_id": "m-1"}))
        .await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    let requests = harness.llm.requests();
    assert_eq!(requests.len(), 2);
    let again = &requests[1].prompt;
    assert!(
        again.starts_with("Draft a response to this email:\n\nWhere is my invoice?"),
        "{again}"
    );
    assert!(
        again.contains("{\"reply\": \"Dear Ann\"}"),
        "the wrong answer is quoted: {again}"
    );
    assert!(
        again.contains("\"draft\" is a required property"),
        "{again}"
    );
    let steps = harness.steps(&execution).await;
    let output = steps[1].output.clone().unwrap();
    assert_eq!(output["draft"], "Dear Ann, here it is.");
    assert!(
        output["repaired"][0]
            .as_str()
            .unwrap()
            .contains("\"draft\" is a required property")
    );
    // Both answers are paid for, and counted.
    assert_eq!(
        output["usage"],
        json!({"input_tokens": 250, "output_tokens": 45})
    );
    assert_eq!(steps[1].cost, Usd::from_micros(295));
    assert_eq!(execution.cost, Usd::from_micros(295));
}

#[tokio::test]
async fn an_answer_still_out_of_shape_fails_the_step_saying_why_and_keeps_its_cost() {
    let harness = Harness::new(gmail()).await;
    harness
        .llm
        .answer("Dear Ann, thank you for writing.", 100, 20)
        .answer("{\"draft\": \"\"}", 120, 5);
    let (execution, outcome) = harness
        .start(&seed_workflow_with_schema(), json!({"email_id": "m-1"}))
        .await;
    assert_eq!(outcome, Outcome::Failed);
    let message = execution.error.clone().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("does not match the step's output_schema"),
        "{message}"
    );
    assert!(
        message.contains("$.draft"),
        "the path of what is wrong: {message}"
    );
    assert_eq!(
        harness.llm.requests().len(),
        2,
        "asked again once, not more"
    );
    let steps = harness.steps(&execution).await;
    assert_eq!(steps[1].state, StepState::Failed);
    assert_eq!(
        steps[1].cost,
        Usd::from_micros(245),
        "what the model was paid is kept"
    );
    assert_eq!(harness.connectors.count("save_draft"), 0);
}

#[test]
fn an_output_schema_that_is_not_an_object_schema_is_refused_at_its_path() {
    let mut workflow = seed_workflow();
    workflow["steps"][1]["output_schema"] = json!({"type": "string"});
    let problems = baton_engine::validate_document(
        &workflow,
        &baton_engine::CompileOptions {
            limits: &Limits::default(),
            connectors: gmail().as_ref(),
            extra_providers: &[],
        },
    )
    .unwrap_err();
    assert_eq!(problems[0].path, "$.steps[1].output_schema", "{problems:?}");
    assert!(problems[0].message.contains("root must be"), "{problems:?}");
}

#[tokio::test]
async fn a_models_step_record_says_why_another_model_answered_and_when_the_circuit_closes() {
    let harness = Harness::new(gmail()).await;
    let workflow = json!({"id": "wf_visible", "name": "v", "steps": [
        {"id": "draft", "type": "llm", "model": "gpt-4o", "prompt": "Reply to Ann",
         "fallback": ["anthropic/claude-sonnet-4-5"], "retry": {"max_retries": 0}}
    ]});
    // OpenAI fails five times in a row (each time Anthropic answers): its circuit opens.
    for _ in 0..5 {
        harness
            .llm
            .fail(StepError::transient("openai answered HTTP 503: overloaded"))
            .answer("Dear Ann", 10, 5);
        let (execution, outcome) = harness.start(&workflow, json!({})).await;
        assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
        let notes = execution.output.clone().unwrap()["notes"].clone();
        assert_eq!(
            notes,
            json!([
                "openai/gpt-4o: openai answered HTTP 503: overloaded",
                "answered by anthropic/claude-sonnet-4-5"
            ])
        );
    }
    // The sixth run does not call OpenAI; its record says until when, and who answered.
    harness.llm.answer("Dear Ann, again", 10, 5);
    let (execution, outcome) = harness.start(&workflow, json!({})).await;
    assert_eq!(outcome, Outcome::Completed);
    assert_eq!(harness.llm.requests().len(), 11, "OpenAI was not asked");
    let notes = execution.output.clone().unwrap()["notes"].clone();
    let first = notes[0].as_str().unwrap();
    assert!(
        first.starts_with("openai/gpt-4o: openai has failed 5 times in a row")
            && first.contains("circuit open until ")
            && first.contains(" UTC"),
        "{first}"
    );
    assert_eq!(notes[1], "answered by anthropic/claude-sonnet-4-5");
}

#[tokio::test]
async fn a_models_step_record_says_which_attempts_failed_before_it_answered() {
    let harness = Harness::new(gmail()).await;
    harness
        .llm
        .fail(StepError::transient("openai answered HTTP 429: slow down"))
        .answer("Dear Ann", 10, 5);
    let workflow = json!({"id": "wf_retried", "name": "r", "steps": [
        {"id": "draft", "type": "llm", "model": "gpt-4o", "prompt": "Reply to Ann",
         "retry": {"max_retries": 1, "base_delay": "100ms"}}
    ]});
    let (execution, outcome) = harness.start(&workflow, json!({})).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    let notes = execution.output.clone().unwrap()["notes"].clone();
    let first = notes[0].as_str().unwrap();
    assert!(
        first.starts_with(
            "attempt 1 failed: openai answered HTTP 429: slow down; tried again after"
        ),
        "{first}"
    );
    let steps = harness.steps(&execution).await;
    assert_eq!(steps[0].attempts, 2);
}

fn crm() -> Arc<FakeConnectors> {
    FakeConnectors::new(|call, _| match call.action.as_str() {
        "search_records" => Ok(
            json!({"records": [{"email": "ann@cafe.example", "company": "Café Ann", "employees": 40}]}),
        ),
        "post_message" => Ok(json!({"ts": "1764590000.000100", "channel": call.inputs["channel"]})),
        other => Err(StepError::permanent(format!("unexpected {other}"))),
    })
}

fn call(id: &str, name: &str, arguments: Value) -> baton_engine::provider::ToolCall {
    baton_engine::provider::ToolCall {
        id: id.into(),
        name: name.into(),
        arguments,
    }
}

fn lead_agent(approval: bool) -> Value {
    json!({"id": "wf_agent", "name": "Lead agent", "steps": [
        {"id": "scout", "type": "agent", "model": "gpt-4o", "prompt": "Is {{ trigger.email }} a good lead? Tell the team if so.",
         "max_iterations": 4,
         "tools": [
            {"name": "find_company", "service": "hubspot", "action": "search_records", "description": "Looks a contact up in the CRM",
             "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "object": {"type": "string"}}, "required": ["query"]},
             "inputs": {"object": "contacts"}},
            {"name": "tell_team", "service": "slack", "action": "post_message", "approval": approval,
             "parameters": {"type": "object", "properties": {"text": {"type": "string"}, "channel": {"type": "string"}}, "required": ["text"]},
             "inputs": {"channel": "#sales"}}
         ]}
    ]})
}

#[tokio::test]
async fn an_agent_calls_its_tools_as_steps_and_answers() {
    let harness = Harness::new(crm()).await;
    harness
        .llm
        .call_tools(
            vec![call(
                "c1",
                "find_company",
                json!({"query": "ann@cafe.example", "object": "companies"}),
            )],
            100,
            10,
        )
        .call_tools(
            vec![call(
                "c2",
                "tell_team",
                json!({"text": "Hot lead: Café Ann", "channel": "#general"}),
            )],
            150,
            12,
        )
        .answer("Café Ann is a good lead; the team knows.", 200, 15);
    let (execution, outcome) = harness
        .start(&lead_agent(false), json!({"email": "ann@cafe.example"}))
        .await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    let output = execution.output.clone().unwrap();
    assert_eq!(
        output["response"],
        "Café Ann is a good lead; the team knows."
    );
    assert_eq!(
        (output["iterations"].as_i64(), output["tool_calls"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        output["usage"],
        json!({"input_tokens": 450, "output_tokens": 37})
    );

    // Each turn and each call is a step of the record, in order, with its cost on the turn.
    let steps = harness.steps(&execution).await;
    let keys: Vec<&str> = steps.iter().map(|step| step.step_key.as_str()).collect();
    for expected in [
        "scout",
        "scout[1].model",
        "scout[1].find_company",
        "scout[2].model",
        "scout[2].tell_team",
        "scout[3].model",
    ] {
        assert!(keys.contains(&expected), "{expected} in {keys:?}");
    }
    let turn = steps
        .iter()
        .find(|step| step.step_key == "scout[1].model")
        .unwrap();
    assert_eq!(turn.cost, Usd::from_micros(110));
    assert_eq!(
        execution.cost,
        Usd::from_micros(487),
        "the turns' cost, counted once"
    );

    // The author's fixed inputs win over the model's; each call has its own idempotency key.
    let calls = harness.connectors.calls();
    assert_eq!(
        calls[0].inputs,
        json!({"query": "ann@cafe.example", "object": "contacts"})
    );
    assert_eq!(
        calls[1].inputs,
        json!({"text": "Hot lead: Café Ann", "channel": "#sales"})
    );
    assert_eq!(
        calls[1].idempotency_key,
        format!("{}:scout[2].tell_team", execution.id)
    );

    // The model was given the tools, less what the author fixed, and saw each result.
    let requests = harness.llm.requests();
    let tools = &requests[0].tools;
    assert_eq!(
        tools
            .iter()
            .map(|tool| tool.name.as_str())
            .collect::<Vec<_>>(),
        ["find_company", "tell_team"]
    );
    assert_eq!(
        tools[0].parameters["properties"],
        json!({"query": {"type": "string"}})
    );
    assert_eq!(
        requests[0].turns[0].text,
        "Is ann@cafe.example a good lead? Tell the team if so."
    );
    let second = &requests[1].turns;
    assert_eq!(second.len(), 3, "the goal, the call, its result");
    assert_eq!(second[1].calls[0].name, "find_company");
    assert_eq!(
        second[2].result.as_ref().unwrap().content["records"][0]["company"],
        "Café Ann"
    );
}

#[tokio::test]
async fn an_agents_call_that_needs_approval_waits_and_a_resume_asks_the_model_nothing_twice() {
    let harness = Harness::new(crm()).await;
    harness
        .llm
        .call_tools(
            vec![call("c1", "tell_team", json!({"text": "Hot lead"}))],
            100,
            10,
        )
        .answer("Told them.", 50, 5);
    let (execution, compiled) = harness
        .execution(&lead_agent(true), json!({"email": "ann@cafe.example"}))
        .await;
    let (waiting, outcome) = harness.run(&execution, &compiled).await;
    assert_eq!(
        outcome,
        Outcome::Waiting {
            step: "scout[1].tell_team_approval".into(),
            resume_at: None
        }
    );
    assert_eq!(
        harness.connectors.count("post_message"),
        0,
        "nothing is sent before the answer"
    );
    let asking = harness.steps(&waiting).await;
    let approval = asking
        .iter()
        .find(|step| step.step_key == "scout[1].tell_team_approval")
        .unwrap();
    assert!(
        approval.input.as_ref().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("\"text\": \"Hot lead\"")
    );

    harness
        .engine
        .answer(
            &waiting,
            &compiled,
            "scout[1].tell_team_approval",
            json!({"approved": true, "by": "boss@example.com"}),
        )
        .await
        .unwrap();
    let (done, outcome) = harness.run(&waiting, &compiled).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", done.error);
    assert_eq!(harness.connectors.count("post_message"), 1);
    assert_eq!(
        harness.llm.requests().len(),
        2,
        "the first turn came from its checkpoint"
    );
    assert_eq!(done.output.unwrap()["response"], "Told them.");
}

#[tokio::test]
async fn an_agent_stops_at_its_turn_limit_and_its_cost_ceiling() {
    let harness = Harness::new(crm()).await;
    for _ in 0..4 {
        harness.llm.call_tools(
            vec![call("c", "find_company", json!({"query": "ann"}))],
            10,
            1,
        );
    }
    let (execution, outcome) = harness
        .start(&lead_agent(false), json!({"email": "a@b.c"}))
        .await;
    assert_eq!(outcome, Outcome::Failed);
    let message = execution.error.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("did not finish within 4 turns"),
        "{message}"
    );

    let mut costly = lead_agent(false);
    costly["steps"][0]["max_cost_usd"] = json!(0.0001);
    harness.llm.call_tools(
        vec![call("c", "find_company", json!({"query": "ann"}))],
        90,
        20,
    );
    let (execution, outcome) = harness.start(&costly, json!({"email": "a@b.c"})).await;
    assert_eq!(outcome, Outcome::Failed);
    let message = execution.error.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("past its ceiling of $0.0001"), "{message}");
}

#[test]
fn an_agent_without_tools_or_with_a_broken_tool_is_refused_at_its_path() {
    let mut workflow = lead_agent(false);
    workflow["steps"][0]["tools"][1] =
        json!({"name": "both", "service": "slack", "action": "post_message", "workflow": "wf_x"});
    workflow["steps"][0]["tools"][0]["name"] = json!("find company");
    let problems = baton_engine::validate_document(
        &workflow,
        &baton_engine::CompileOptions {
            limits: &Limits::default(),
            connectors: crm().as_ref(),
            extra_providers: &[],
        },
    )
    .unwrap_err();
    let paths: Vec<&str> = problems
        .iter()
        .map(|problem| problem.path.as_str())
        .collect();
    assert!(paths.contains(&"$.steps[0].tools[0].name"), "{problems:?}");
    assert!(paths.contains(&"$.steps[0].tools[1]"), "{problems:?}");
}

#[tokio::test]
async fn an_agents_workflow_tool_runs_the_workflow_and_a_failed_call_is_the_models_to_read() {
    let harness = Harness::new(crm()).await;
    let child = json!({"id": "wf_greet", "name": "greet", "steps": [
        {"id": "greet", "type": "transformation", "action": "template", "inputs": {"template": "Hello {{ trigger.name }}"}}
    ]});
    harness.execution(&child, json!({})).await;
    harness
        .llm
        .call_tools(
            vec![
                call("c1", "wf_greet", json!({"name": "Ann"})),
                call("c2", "unlisted", json!({})),
                call("c3", "crm", json!({"query": "x"})),
            ],
            10,
            1,
        )
        .answer("Greeted Ann.", 10, 1);
    let workflow = json!({"id": "wf_agent_greets", "name": "g", "steps": [
        {"id": "helper", "type": "agent", "model": "gpt-4o", "prompt": "Greet Ann",
         "tools": [
            {"workflow": "wf_greet", "parameters": {"type": "object", "properties": {"name": {"type": "string"}}}},
            {"name": "crm", "service": "hubspot", "action": "delete_everything"}
         ]}
    ]});
    let (execution, outcome) = harness.start(&workflow, json!({})).await;
    assert_eq!(outcome, Outcome::Completed, "{:?}", execution.error);
    let results: Vec<Value> = harness.llm.requests()[1]
        .turns
        .iter()
        .filter_map(|turn| turn.result.as_ref().map(|result| result.content.clone()))
        .collect();
    assert_eq!(
        results[0]["text"], "Hello Ann",
        "the workflow's output: {results:?}"
    );
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("there is no tool named \"unlisted\"")
    );
    assert!(
        results[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected delete_everything"),
        "{:?}",
        results[2]
    );
}
