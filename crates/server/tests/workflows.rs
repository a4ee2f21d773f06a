//! The workflow and execution API, with a worker running the queue: on SQLite, and on
//! PostgreSQL when configured.

mod common;

use axum::http::StatusCode;
use common::harness;
use common::{App, Reply, TestStore, join, send, sign_up};
use serde_json::{Value, json};

conformance!(
    workflows_are_created_versioned_restored_and_deleted,
    a_run_is_queued_and_its_execution_reports_every_step,
    bad_workflows_and_runs_say_what_is_wrong_and_where,
    failed_executions_retry_from_the_failed_step,
    a_failed_run_resumes_on_the_fixed_version_reusing_what_completed,
    approvals_wait_for_an_approver_and_waiting_runs_can_be_cancelled,
    members_run_and_edit_only_their_own_workflows,
    executions_list_by_workflow_state_and_time,
    a_schedule_shows_its_next_runs_and_bad_ones_are_refused,
    live_events_stream_each_step_as_it_happens,
    a_running_execution_is_cancelled_at_its_next_safe_point,
    a_run_knows_who_started_it_and_their_company,
    ids_names_keys_versions_and_credentials_are_checked_at_save,
    a_run_with_an_idempotency_key_starts_once,
    a_step_is_tested_alone_with_a_runs_data_or_previewed_safely,
);

fn total() -> Value {
    json!({"id": "wf_total", "name": "Order total", "steps": [
        {"id": "total", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.price * trigger.qty"}},
        {"id": "label", "type": "transformation", "action": "template", "inputs": {"template": "total {{ total.result }}"}}
    ]})
}

async fn post(app: &App, session: &[String; 2], path: &str, body: Value) -> Reply {
    send(app, "POST", path, Some(body), &[&session[0]]).await
}

async fn get(app: &App, session: &[String; 2], path: &str) -> Reply {
    send(app, "GET", path, None, &[&session[0]]).await
}

/// Polls an execution until it reaches `state` (the worker runs in the background).
async fn until(app: &App, session: &[String; 2], id: &str, state: &str) -> Value {
    for _ in 0..200 {
        let reply = get(app, session, &format!("/api/v1/executions/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if reply.body["state"] == state {
            return reply.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("execution {id} never reached {state}");
}

async fn workflows_are_created_versioned_restored_and_deleted(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let created = post(&app, &owner, "/api/v1/workflows", total()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        (created.body["id"].clone(), created.body["version"].clone()),
        (json!("wf_total"), json!(1))
    );

    let copy = post(&app, &owner, "/api/v1/workflows", total()).await;
    assert_eq!(copy.status, StatusCode::CREATED);
    assert_eq!(copy.body["id"], "wf_total_2", "a taken id gets a new one");
    assert_eq!(copy.body["definition"]["id"], "wf_total_2");

    let mut changed = total();
    changed["name"] = json!("Order total, v2");
    let saved = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_total",
        Some(changed),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["version"], 2);
    assert_eq!(saved.body["name"], "Order total, v2");
    let read = get(&app, &owner, "/api/v1/workflows/wf_total").await;
    assert_eq!(read.body["definition"]["name"], "Order total, v2");
    // A save made from version 1 while version 2 is current would overwrite it unseen.
    let stale = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_total?base_version=1",
        Some(total()),
        &[&owner[0]],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(
        stale.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("newer version")
    );
    let mut current = total();
    current["name"] = json!("Order total, v2");
    let fresh = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_total?base_version=2&note=%20Renamed%20the%20total%20",
        Some(current.clone()),
        &[&owner[0]],
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.body["note"], "Renamed the total", "kept, trimmed");
    let long = format!("/api/v1/workflows/wf_total?note={}", "x".repeat(501));
    let refused = send(&app, "PUT", &long, Some(current), &[&owner[0]]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("note"),
        "{}",
        refused.body
    );

    let versions = get(&app, &owner, "/api/v1/workflows/wf_total/versions").await;
    let numbers: Vec<i64> = versions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    assert_eq!(versions.body["items"][0]["note"], "Renamed the total");
    assert_eq!(versions.body["items"][1]["note"], Value::Null);
    let first = get(&app, &owner, "/api/v1/workflows/wf_total/versions/1").await;
    assert_eq!(first.body["definition"], total());
    let restored = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_total/versions/1/restore",
        json!({}),
    )
    .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(
        (
            restored.body["version"].clone(),
            restored.body["name"].clone()
        ),
        (json!(4), json!("Order total"))
    );
    assert_eq!(restored.body["note"], "Restored version 1");

    let listed = get(&app, &owner, "/api/v1/workflows").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let activated = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_total/activate",
        json!({}),
    )
    .await;
    assert_eq!(activated.body["active"], true);

    let deleted = send(
        &app,
        "DELETE",
        "/api/v1/workflows/wf_total",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&app, &owner, "/api/v1/workflows/wf_total").await.status,
        StatusCode::NOT_FOUND
    );

    let audit = get(&app, &owner, "/api/v1/audit").await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "workflow.created",
        "workflow.changed",
        "workflow.restored",
        "workflow.activated",
        "workflow.deleted",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn a_run_is_queued_and_its_execution_reports_every_step(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    post(&app, &owner, "/api/v1/workflows", total()).await;
    let queued = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_total/runs",
        json!({"input": {"price": 21, "qty": 2}}),
    )
    .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let done = until(&app, &owner, &id, "COMPLETED").await;
    assert_eq!(done["output"], json!({"text": "total 42"}));
    assert_eq!(done["workflow_id"], "wf_total");
    assert_eq!(done["cost_usd"], 0.0);
    let steps = done["steps"].as_array().unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["total", "label"]
    );
    for step in steps {
        assert_eq!(step["state"], "COMPLETED");
        assert_eq!(step["attempts"], 1);
        assert!(
            step["started_at"].is_string() && step["duration_ms"].is_i64(),
            "{step}"
        );
        assert!(step.get("usage").is_some() && step.get("cost_usd").is_some());
    }
    assert_eq!(steps[0]["output"], json!({"result": 42}));

    let waited = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_total/runs?wait=10",
        json!({"input": {"price": 5, "qty": 3}}),
    )
    .await;
    assert_eq!(
        waited.status,
        StatusCode::OK,
        "a finished run answers 200: {}",
        waited.body
    );
    assert_eq!(waited.body["state"], "COMPLETED");
    assert_eq!(waited.body["output"], json!({"text": "total 15"}));

    let no_body = send(
        &app,
        "POST",
        "/api/v1/workflows/wf_total/runs?wait=10",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        no_body.status,
        StatusCode::OK,
        "a run without a body has empty input: {}",
        no_body.body
    );
    assert_eq!(
        no_body.body["state"], "FAILED",
        "the expression needs trigger.price"
    );
}

async fn bad_workflows_and_runs_say_what_is_wrong_and_where(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let mut broken = total();
    broken["steps"][1]["id"] = json!("total");
    let refused = post(&app, &owner, "/api/v1/workflows", broken.clone()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.body["error"]["details"][0]["path"], "$.steps[1].id",
        "{}",
        refused.body
    );
    let checked = post(&app, &owner, "/api/v1/workflows/validate", broken).await;
    assert_eq!(checked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        post(&app, &owner, "/api/v1/workflows/validate", total())
            .await
            .body,
        json!({"valid": true})
    );
    assert_eq!(
        get(&app, &owner, "/api/v1/workflows").await.body["items"],
        json!([]),
        "nothing was saved"
    );

    post(&app, &owner, "/api/v1/workflows", total()).await;
    let mut renamed = total();
    renamed["id"] = json!("wf_other");
    let mismatch = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_total",
        Some(renamed),
        &[&owner[0]],
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(mismatch.body["error"]["details"][0]["path"], "$.id");
    let not_object = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_total/runs",
        json!({"input": [1, 2]}),
    )
    .await;
    assert_eq!(not_object.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_object.body["error"]["details"][0]["path"], "$.input");
    let typo = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_total/runs",
        json!({"inputs": {}}),
    )
    .await;
    assert_eq!(typo.status, StatusCode::UNPROCESSABLE_ENTITY);
    let too_long = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_total/runs?wait=100000",
        json!({}),
    )
    .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_long.body["error"]["details"][0]["path"], "wait");
    assert_eq!(
        post(&app, &owner, "/api/v1/workflows/wf_nothing/runs", json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, &owner, "/api/v1/executions/not-an-id")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let bad_state = get(&app, &owner, "/api/v1/executions?state=DONE").await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_state.body["error"]["details"][0]["path"], "state");
}

async fn failed_executions_retry_from_the_failed_step(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let two_steps = json!({"id": "wf_two", "name": "Two", "steps": [
        {"id": "first", "type": "transformation", "action": "set", "inputs": {"qty": "{{ trigger.qty }}"}},
        {"id": "second", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.price * first.qty"}}
    ]});
    post(&app, &owner, "/api/v1/workflows", two_steps).await;
    let failed = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_two/runs?wait=10",
        json!({"input": {"qty": 2}}),
    )
    .await;
    assert_eq!(failed.body["state"], "FAILED", "{}", failed.body);
    assert_eq!(failed.body["error"]["step"], "second");
    assert!(
        failed.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("price")
    );
    let id = failed.body["id"].as_str().unwrap().to_owned();
    let retried = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{id}/retry"),
        json!({}),
    )
    .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
    let again = until(&app, &owner, &id, "FAILED").await;
    assert_eq!(
        again["steps"][0]["finished_at"], failed.body["steps"][0]["finished_at"],
        "the step that succeeded is kept, not run again"
    );
    assert_ne!(
        again["steps"][1]["finished_at"], failed.body["steps"][1]["finished_at"],
        "the failed step ran again"
    );
    let done = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_two/runs?wait=10",
        json!({"input": {"price": 1, "qty": 1}}),
    )
    .await;
    assert_eq!(done.body["state"], "COMPLETED");
    let done_id = done.body["id"].as_str().unwrap();
    let refused = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{done_id}/retry"),
        json!({}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    let listed = get(&app, &owner, "/api/v1/workflows").await;
    let shown = &listed.body["items"][0];
    assert_eq!(shown["trigger"], json!({"type": "manual"}), "{shown}");
    assert_eq!(
        (
            shown["runs_this_week"].clone(),
            shown["success_rate"].clone()
        ),
        (json!(2), json!(50)),
        "one of two runs failed: {shown}"
    );
    assert_eq!(shown["last_run"]["state"], "COMPLETED");
}

async fn a_failed_run_resumes_on_the_fixed_version_reusing_what_completed(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let broken = json!({"id": "wf_fix", "name": "Fix", "steps": [
        {"id": "first", "type": "transformation", "action": "set", "inputs": {"qty": "{{ trigger.qty }}"}},
        {"id": "second", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.price * first.qty"}},
        {"id": "third", "type": "transformation", "action": "template", "inputs": {"template": "total {{ second.result }}"}}
    ]});
    post(&app, &owner, "/api/v1/workflows", broken.clone()).await;
    let mut failed = Vec::new();
    for _ in 0..2 {
        let run = post(
            &app,
            &owner,
            "/api/v1/workflows/wf_fix/runs?wait=10",
            json!({"input": {"qty": 3}}),
        )
        .await;
        assert_eq!(run.body["state"], "FAILED", "{}", run.body);
        failed.push(run.body);
    }
    let mut fixed = broken.clone();
    fixed["steps"][1]["inputs"]["expression"] = json!("first.qty * 10");
    let saved = send(
        &app,
        "PUT",
        "/api/v1/workflows/wf_fix",
        Some(fixed),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.body["version"], 2);

    let retry = |id: &Value, body: Value| {
        let (app, owner) = (&app, &owner);
        let path = format!("/api/v1/executions/{}/retry", id.as_str().unwrap());
        async move { post(app, owner, &path, body).await }
    };
    let bad_step = retry(
        &failed[0]["id"],
        json!({"version": "latest", "from_step": "nope"}),
    )
    .await;
    assert_eq!(
        bad_step.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_step.body
    );
    assert_eq!(bad_step.body["error"]["details"][0]["path"], "$.from_step");
    let bad_version = retry(&failed[0]["id"], json!({"version": 99})).await;
    assert_eq!(bad_version.body["error"]["details"][0]["path"], "$.version");

    // From the failed step, on the fixed version: the first step's output is reused.
    let resumed = retry(&failed[0]["id"], json!({"version": "latest"})).await;
    assert_eq!(resumed.status, StatusCode::ACCEPTED, "{}", resumed.body);
    let id = failed[0]["id"].as_str().unwrap();
    let done = until(&app, &owner, id, "COMPLETED").await;
    assert_eq!(done["workflow_version"], 2);
    assert_eq!(done["output"]["text"], "total 30", "{done}");
    assert_eq!(
        done["steps"][0]["finished_at"], failed[0]["steps"][0]["finished_at"],
        "the step before the failed one is not run again"
    );

    // From an earlier step: it runs again too.
    let again = retry(
        &failed[1]["id"],
        json!({"version": 2, "from_step": "first"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    let id = failed[1]["id"].as_str().unwrap();
    let done = until(&app, &owner, id, "COMPLETED").await;
    assert_ne!(
        done["steps"][0]["finished_at"], failed[1]["steps"][0]["finished_at"],
        "the step named runs again"
    );
    let finished = retry(&failed[1]["id"], json!({"version": 2})).await;
    assert_eq!(
        finished.status,
        StatusCode::CONFLICT,
        "a completed run is not resumed"
    );
}

fn approval() -> Value {
    json!({"id": "wf_refund", "name": "Refund", "steps": [
        {"id": "ask", "type": "approval", "message": "Refund {{ trigger.amount }}?"},
        {"id": "note", "type": "transformation", "action": "set", "inputs": {"approved": "{{ ask.approved }}", "by": "{{ ask.by }}"}}
    ]})
}

async fn approvals_wait_for_an_approver_and_waiting_runs_can_be_cancelled(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let member = join(&app, &owner, "member@example.com", "member").await.0;
    post(&app, &owner, "/api/v1/workflows", approval()).await;
    let queued = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_refund/runs",
        json!({"input": {"amount": 30}}),
    )
    .await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let waiting = until(&app, &owner, &id, "WAITING").await;
    assert_eq!(waiting["steps"][0]["state"], "WAITING");
    let inbox = get(&app, &owner, "/api/v1/approvals").await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    assert_eq!(
        (
            inbox.body["items"][0]["execution_id"].as_str(),
            inbox.body["items"][0]["step"].as_str(),
            inbox.body["items"][0]["message"].as_str(),
            inbox.body["items"][0]["workflow_id"].as_str(),
        ),
        (
            Some(id.as_str()),
            Some("ask"),
            Some("Refund 30?"),
            Some("wf_refund")
        ),
        "the owner's inbox holds the question"
    );
    let members_inbox = get(&app, &member, "/api/v1/approvals").await;
    assert_eq!(
        members_inbox.body["items"],
        json!([]),
        "a member may not answer it, so it is not in their inbox"
    );

    let by_member = post(
        &app,
        &member,
        &format!("/api/v1/executions/{id}/steps/ask/answer"),
        json!({"approved": true}),
    )
    .await;
    assert_eq!(
        by_member.status,
        StatusCode::FORBIDDEN,
        "approvers default to Owners and Admins"
    );
    let wrong_step = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{id}/steps/note/answer"),
        json!({"approved": true}),
    )
    .await;
    assert_eq!(wrong_step.status, StatusCode::NOT_FOUND);
    let answered = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{id}/steps/ask/answer"),
        json!({"approved": true, "comment": "fine"}),
    )
    .await;
    assert_eq!(answered.status, StatusCode::ACCEPTED, "{}", answered.body);
    let done = until(&app, &owner, &id, "COMPLETED").await;
    assert_eq!(
        done["output"],
        json!({"approved": true, "by": "owner@example.com"})
    );
    assert_eq!(done["steps"][0]["output"]["by"], "owner@example.com");
    let again = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{id}/steps/ask/answer"),
        json!({"approved": false}),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "an answered step says so: {}",
        again.body
    );

    let second = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_refund/runs",
        json!({"input": {"amount": 99}}),
    )
    .await;
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    until(&app, &owner, &second_id, "WAITING").await;
    let cancelled = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{second_id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "CANCELLED");
    assert_eq!(
        cancelled.body["steps"][0]["state"], "CANCELLED",
        "the approval ends with its execution: {}",
        cancelled.body
    );
    let late = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{second_id}/steps/ask/answer"),
        json!({"approved": true}),
    )
    .await;
    assert_eq!(
        late.status,
        StatusCode::CONFLICT,
        "a cancelled execution waits for nobody: {}",
        late.body
    );
    let twice = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{second_id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    // A delay waits too, but takes no answer: it ends when its time comes.
    post(
        &app,
        &owner,
        "/api/v1/workflows",
        json!({"id": "wf_pause", "name": "Pause", "steps": [{"id": "pause", "type": "delay", "duration": "1h"}]}),
    )
    .await;
    let paused = post(&app, &owner, "/api/v1/workflows/wf_pause/runs", json!({})).await;
    let paused_id = paused.body["id"].as_str().unwrap().to_owned();
    until(&app, &owner, &paused_id, "WAITING").await;
    let skipped = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{paused_id}/steps/pause/answer"),
        json!({"approved": true}),
    )
    .await;
    assert_eq!(skipped.status, StatusCode::CONFLICT, "{}", skipped.body);
    assert!(
        skipped.body.to_string().contains("not an approval"),
        "{}",
        skipped.body
    );
    until(&app, &owner, &paused_id, "WAITING").await;
}

async fn members_run_and_edit_only_their_own_workflows(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let member = join(&app, &owner, "member@example.com", "member").await.0;
    let viewer = join(&app, &owner, "viewer@example.com", "viewer").await.0;
    post(&app, &owner, "/api/v1/workflows", total()).await;
    let mut own = total();
    own["id"] = json!("wf_mine");
    assert_eq!(
        post(&app, &member, "/api/v1/workflows", own.clone())
            .await
            .status,
        StatusCode::CREATED
    );

    assert_eq!(
        get(&app, &viewer, "/api/v1/workflows/wf_total")
            .await
            .status,
        StatusCode::OK,
        "everyone views"
    );
    assert_eq!(
        post(&app, &viewer, "/api/v1/workflows", own.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&app, &viewer, "/api/v1/workflows/wf_mine/runs", json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&app, &member, "/api/v1/workflows/wf_total/runs", json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            &app,
            "PUT",
            "/api/v1/workflows/wf_total",
            Some(total()),
            &[&member[0]]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            &app,
            "DELETE",
            "/api/v1/workflows/wf_total",
            None,
            &[&member[0]]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(
            &app,
            &member,
            "/api/v1/workflows/wf_mine/runs",
            json!({"input": {"price": 1, "qty": 1}})
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send(
            &app,
            "PUT",
            "/api/v1/workflows/wf_mine",
            Some(own),
            &[&member[0]]
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        post(&app, &owner, "/api/v1/workflows/wf_mine/runs", json!({}))
            .await
            .status,
        StatusCode::ACCEPTED,
        "Owners and Admins edit anyone's"
    );
    assert_eq!(
        send(
            &app,
            "DELETE",
            "/api/v1/workflows/wf_mine",
            None,
            &[&member[0]]
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );

    // Another organization's workflow and execution do not exist from here.
    let outsider = sign_up(&app, "outsider@example.com").await.session();
    let theirs = post(&app, &owner, "/api/v1/workflows/wf_total/runs", json!({})).await;
    let theirs_id = theirs.body["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", "/api/v1/workflows/wf_total".to_owned()),
        ("PUT", "/api/v1/workflows/wf_total".to_owned()),
        ("DELETE", "/api/v1/workflows/wf_total".to_owned()),
        ("POST", "/api/v1/workflows/wf_total/runs".to_owned()),
        ("GET", "/api/v1/workflows/wf_total/versions".to_owned()),
        ("POST", "/api/v1/workflows/wf_total/activate".to_owned()),
        ("GET", format!("/api/v1/executions/{theirs_id}")),
        ("POST", format!("/api/v1/executions/{theirs_id}/cancel")),
        ("POST", format!("/api/v1/executions/{theirs_id}/retry")),
    ] {
        let body = (method != "GET" && method != "DELETE")
            .then(|| if method == "PUT" { total() } else { json!({}) });
        let reply = send(&app, method, &path, body, &[&outsider[0]]).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
    }
}

async fn executions_list_by_workflow_state_and_time(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    post(&app, &owner, "/api/v1/workflows", total()).await;
    post(&app, &owner, "/api/v1/workflows", approval()).await;
    let before = chrono::Utc::now();
    for n in 0..3 {
        post(
            &app,
            &owner,
            "/api/v1/workflows/wf_total/runs?wait=10",
            json!({"input": {"price": n, "qty": 1}}),
        )
        .await;
    }
    let waiting = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_refund/runs",
        json!({"input": {"amount": 1}}),
    )
    .await;
    until(
        &app,
        &owner,
        waiting.body["id"].as_str().unwrap(),
        "WAITING",
    )
    .await;

    let all = get(&app, &owner, "/api/v1/executions").await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 4);
    let totals = get(
        &app,
        &owner,
        "/api/v1/executions?workflow=wf_total&state=completed",
    )
    .await;
    assert_eq!(totals.body["items"].as_array().unwrap().len(), 3);
    let waits = get(&app, &owner, "/api/v1/executions?state=WAITING").await;
    assert_eq!(waits.body["items"][0]["workflow_id"], "wf_refund");
    let paged = get(&app, &owner, "/api/v1/executions?limit=2").await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 2);
    let cursor = paged.body["next_cursor"].as_str().unwrap();
    let rest = get(
        &app,
        &owner,
        &format!("/api/v1/executions?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);
    let since = before
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        .replace('+', "%2B");
    let recent = get(&app, &owner, &format!("/api/v1/executions?since={since}")).await;
    assert_eq!(
        recent.body["items"].as_array().unwrap().len(),
        4,
        "{}",
        recent.body
    );
    let later = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let none = get(&app, &owner, &format!("/api/v1/executions?since={later}")).await;
    assert_eq!(none.body["items"], json!([]));
    let old = get(&app, &owner, &format!("/api/v1/executions?until={since}")).await;
    assert_eq!(old.body["items"], json!([]));
}

async fn a_schedule_shows_its_next_runs_and_bad_ones_are_refused(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let mut daily = total();
    daily["trigger"] = json!({"type": "schedule", "cron": "30 8 * * MON-FRI", "timezone": "America/New_York", "missed": "run_once"});
    let created = post(&app, &owner, "/api/v1/workflows", daily.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let schedule = get(&app, &owner, "/api/v1/workflows/wf_total/schedule").await;
    assert_eq!(schedule.status, StatusCode::OK, "{}", schedule.body);
    assert_eq!(schedule.body["missed"], "run_once");
    let next: Vec<&str> = schedule.body["next_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(next.len(), 5);
    for time in &next {
        // 08:30 in New York is 13:30 UTC in winter, 12:30 in summer.
        assert!(
            time.ends_with("T13:30:00Z") || time.ends_with("T12:30:00Z"),
            "{time}"
        );
    }
    let mut bad = daily.clone();
    bad["id"] = json!("wf_bad");
    bad["trigger"]["cron"] = json!("every monday");
    let refused = post(&app, &owner, "/api/v1/workflows", bad.clone()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.body["error"]["details"][0]["path"], "$.trigger.cron",
        "{}",
        refused.body
    );
    bad["trigger"]["cron"] = json!("0 9 * * *");
    bad["trigger"]["timezone"] = json!("Mars/Olympus");
    let refused = post(&app, &owner, "/api/v1/workflows", bad).await;
    assert_eq!(
        refused.body["error"]["details"][0]["path"],
        "$.trigger.timezone"
    );
}

/// Reads server-sent events until one named `until` arrives; returns (event, data) pairs.
async fn read_events(
    body: &mut (impl futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
    buffer: &mut String,
    until: &str,
) -> Vec<(String, Value)> {
    use futures::StreamExt;
    let mut events = Vec::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = value.to_owned();
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            if name.is_empty() {
                continue; // a keep-alive comment
            }
            let done = name == until;
            events.push((name, serde_json::from_str(&data).unwrap()));
            if done {
                return events;
            }
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn live_events_stream_each_step_as_it_happens(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    post(&app, &owner, "/api/v1/workflows", approval()).await;
    let queued = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_refund/runs",
        json!({"input": {"amount": 5}}),
    )
    .await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let request = axum::http::Request::get(format!("/api/v1/executions/{id}/events"))
        .header(axum::http::header::HOST, "baton.test")
        .header(axum::http::header::COOKIE, &owner[0])
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[axum::http::header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body().into_data_stream();
    let mut buffer = String::new();
    let mut seen = Vec::new();
    // Until the approval step waits.
    loop {
        let events = read_events(&mut body, &mut buffer, "step").await;
        let last = events.last().unwrap().1.clone();
        seen.extend(events);
        if last["id"] == "ask" && last["state"] == "WAITING" {
            break;
        }
    }
    // The step's checkpoint comes a moment before the execution itself is WAITING, and only a
    // waiting execution takes an answer.
    until(&app, &owner, &id, "WAITING").await;
    let answered = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{id}/steps/ask/answer"),
        json!({"approved": false}),
    )
    .await;
    assert_eq!(answered.status, StatusCode::ACCEPTED);
    seen.extend(read_events(&mut body, &mut buffer, "done").await);
    let steps: Vec<(String, String)> = seen
        .iter()
        .filter(|(name, _)| name == "step")
        .map(|(_, data)| {
            (
                data["id"].as_str().unwrap().to_owned(),
                data["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        steps.contains(&("ask".into(), "WAITING".into())),
        "{steps:?}"
    );
    assert!(
        steps.contains(&("ask".into(), "COMPLETED".into())),
        "{steps:?}"
    );
    assert!(
        steps.contains(&("note".into(), "COMPLETED".into())),
        "{steps:?}"
    );
    let states: Vec<&str> = seen
        .iter()
        .filter(|(name, _)| name == "execution")
        .map(|(_, data)| data["state"].as_str().unwrap())
        .collect();
    // States are reported as the stream sees them; a short one (WAITING, between the step's
    // checkpoint and the answer) may pass between two looks. The story's ends are always there.
    assert_eq!(states.last(), Some(&"COMPLETED"), "{states:?}");
    let mut deduplicated = states.clone();
    deduplicated.dedup();
    assert_eq!(
        deduplicated, states,
        "each change is reported once: {states:?}"
    );
    let (_, done) = seen.last().unwrap();
    assert_eq!(done["output"]["approved"], false);
    assert_eq!(done["steps"].as_array().unwrap().len(), 2);
}

async fn a_running_execution_is_cancelled_at_its_next_safe_point(test: &TestStore) {
    // A service that never answers in time: the step is in flight when the cancel comes.
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, slow).await.unwrap() });
    let app = App::reaching_localhost(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let workflow = json!({"id": "wf_slow", "name": "Slow", "steps": [
        {"id": "call", "type": "integration", "service": "http", "action": "request",
         "inputs": {"method": "POST", "url": format!("http://{addr}/slow")}},
        {"id": "after", "type": "transformation", "action": "set", "inputs": {"x": 1}}
    ]});
    assert_eq!(
        post(&app, &owner, "/api/v1/workflows", workflow)
            .await
            .status,
        StatusCode::CREATED
    );
    let queued = post(&app, &owner, "/api/v1/workflows/wf_slow/runs", json!({})).await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    until(&app, &owner, &id, "RUNNING").await;
    let asked = post(
        &app,
        &owner,
        &format!("/api/v1/executions/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert_eq!(asked.body["cancel_requested"], true);
    let started = std::time::Instant::now();
    let cancelled = until(&app, &owner, &id, "CANCELLED").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "stopped within seconds, not after the call"
    );
    assert!(
        cancelled["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|step| step["id"] != "after"),
        "nothing after the cancelled step ran: {cancelled}"
    );
}

async fn a_run_knows_who_started_it_and_their_company(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "ann@example.com").await.session();
    let workflow = json!({"id": "wf_who", "name": "Who", "steps": [
        {"id": "who", "type": "transformation", "action": "set",
         "inputs": {"line": "{{ user.name }} <{{ user.email }}> at {{ user.company }}"}}
    ]});
    post(&app, &owner, "/api/v1/workflows", workflow).await;
    let done = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_who/runs?wait=10",
        json!({}),
    )
    .await;
    assert_eq!(done.body["state"], "COMPLETED", "{}", done.body);
    assert_eq!(
        done.body["output"]["line"],
        "Ann Example <ann@example.com> at Acme Ltd"
    );
}

/// Posts a workflow as raw text (a key may be given twice) and returns the first problem.
async fn first_problem(
    app: &App,
    session: &[String; 2],
    text: &str,
) -> (StatusCode, String, String) {
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/workflows")
        .header(axum::http::header::HOST, "baton.test")
        .header(axum::http::header::ORIGIN, "http://baton.test")
        .header(axum::http::header::COOKIE, &session[0])
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(text.to_owned()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let detail = &body["error"]["details"][0];
    (
        status,
        detail["path"].as_str().unwrap_or_default().to_owned(),
        detail["message"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn ids_names_keys_versions_and_credentials_are_checked_at_save(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let step = r#"[{"id": "a", "type": "transformation", "action": "set", "inputs": {}}]"#;
    let long = "x".repeat(10_000);
    for (text, path, says) in [
        (format!(r#"{{"id": "", "name": "n", "steps": {step}}}"#), "$.id", "must not be empty"),
        (format!(r#"{{"id": "a/b", "name": "n", "steps": {step}}}"#), "$.id", "must start with a letter or digit"),
        (format!(r#"{{"id": "a\u0000b", "name": "n", "steps": {step}}}"#), "$.id", "must start with a letter or digit"),
        (format!(r#"{{"id": "{long}", "name": "n", "steps": {step}}}"#), "$.id", "10000 characters"),
        (format!(r#"{{"id": "ok", "name": "{long}", "steps": {step}}}"#), "$.name", "10000 characters"),
        (format!(r#"{{"id": "ok", "name": "Pay \u202e9.99", "steps": {step}}}"#), "$.name", "U+202E"),
        (format!(r#"{{"id": "ok", "name": "n", "version": "v one", "steps": {step}}}"#), "$.version", "is not a version"),
        (format!(r#"{{"id": "ok", "name": "n", "name": "m", "steps": {step}}}"#), "$", "\"name\" is given twice"),
        (
            r#"{"id": "ok", "name": "n", "steps": [{"id": "call", "type": "integration", "service": "http", "action": "request", "credential": "crm", "inputs": {"url": "https://crm.example"}}]}"#.to_owned(),
            "$.steps[0].credential",
            "no http credential named \"crm\"",
        ),
    ] {
        let (status, at, message) = first_problem(&app, &owner, &text).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {message}");
        assert_eq!(at, path, "{message}");
        assert!(message.contains(says), "{path}: {message}");
    }
    let listed = send(&app, "GET", "/api/v1/workflows", None, &[&owner[0]]).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        0,
        "nothing was saved"
    );
}

/// Starts a run of `wf_total` with `key` as its Idempotency-Key.
async fn keyed_run(app: &App, session: &[String; 2], key: &str, input: Value) -> Reply {
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/workflows/wf_total/runs")
        .header(axum::http::header::HOST, "baton.test")
        .header(axum::http::header::ORIGIN, "http://baton.test")
        .header(axum::http::header::COOKIE, &session[0])
        .header("idempotency-key", key);
    common::dispatch(app, request, Some(json!({"input": input}))).await
}

async fn a_run_with_an_idempotency_key_starts_once(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let saved = post(&app, &owner, "/api/v1/workflows", total()).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let input = json!({"price": 2, "qty": 3});
    let sends = (0..5).map(|_| keyed_run(&app, &owner, "order-77", input.clone()));
    let replies = futures::future::join_all(sends).await;
    let ids: std::collections::HashSet<String> = replies
        .iter()
        .map(|reply| {
            assert!(reply.status.is_success(), "{}", reply.body);
            reply.body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "five sends with one key, one execution");
    let listed = send(&app, "GET", "/api/v1/executions", None, &[&owner[0]]).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);

    let other_input = keyed_run(&app, &owner, "order-77", json!({"price": 9, "qty": 1})).await;
    assert_eq!(
        other_input.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other_input.body
    );
    assert_eq!(
        other_input.body["error"]["details"][0]["path"],
        "idempotency-key"
    );
    let too_long = keyed_run(&app, &owner, &"k".repeat(201), input.clone()).await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.body
    );
    let fresh = keyed_run(&app, &owner, "order-78", input).await;
    assert!(!ids.contains(fresh.body["id"].as_str().unwrap()));
}

async fn a_step_is_tested_alone_with_a_runs_data_or_previewed_safely(test: &TestStore) {
    // A service that counts the orders posted to it and answers with their number.
    let posted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = posted.clone();
    let service = axum::Router::new().route(
        "/orders",
        axum::routing::post(move |body: String| {
            let number = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            async move { axum::Json(json!({"number": number, "received": body})) }
        })
        .get(|| async { axum::Json(json!({"open": 2})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let app = App::reaching_localhost(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let workflow = json!({"id": "wf_order", "name": "Order", "steps": [
        {"id": "total", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.price * trigger.qty"}},
        {"id": "open", "type": "integration", "service": "http", "action": "request",
         "inputs": {"method": "GET", "url": format!("http://{addr}/orders")}},
        {"id": "order", "type": "integration", "service": "http", "action": "request",
         "inputs": {"method": "POST", "url": format!("http://{addr}/orders"), "json": {"total": "{{ total.result }}"}}},
        {"id": "check", "type": "approval", "message": "ok?"}
    ]});
    post(&app, &owner, "/api/v1/workflows", workflow.clone()).await;
    let run = post(
        &app,
        &owner,
        "/api/v1/workflows/wf_order/runs",
        json!({"input": {"price": 5, "qty": 3}}),
    )
    .await;
    let run = until(&app, &owner, run.body["id"].as_str().unwrap(), "WAITING").await;
    assert_eq!(posted.load(std::sync::atomic::Ordering::SeqCst), 1);
    let run_id = run["id"].as_str().unwrap();
    let test_step = |body: Value| {
        let (app, owner) = (&app, &owner);
        async move { post(app, owner, "/api/v1/workflows/wf_order/test-step", body).await }
    };

    // With the run's data: the step reads `total` as the run left it, and says where from.
    let mut edited = workflow.clone();
    edited["steps"][2]["inputs"]["json"] = json!({"total": "{{ total.result }}", "note": "rush"});
    let safe = test_step(
        json!({"step": "order", "definition": edited, "from_execution": run_id, "safe": true}),
    )
    .await;
    assert_eq!(safe.status, StatusCode::OK, "{}", safe.body);
    assert_eq!(safe.body["state"], "PREVIEW");
    assert_eq!(
        safe.body["input"]["inputs"]["json"],
        json!({"total": 15, "note": "rush"}),
        "the unsaved edit is what is previewed"
    );
    assert_eq!(safe.body["source"]["kind"], "run");
    assert_eq!(safe.body["source"]["execution"], run_id);
    assert_eq!(
        safe.body["execution"],
        Value::Null,
        "a preview keeps no run"
    );
    assert_eq!(
        posted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a safe test posts nothing"
    );

    // A call that only reads runs even in a safe test.
    let read = test_step(json!({"step": "open", "from_execution": run_id, "safe": true})).await;
    assert_eq!(read.body["state"], "COMPLETED", "{}", read.body);
    assert_eq!(read.body["output"]["body"]["open"], 2);

    // For real, with a value typed in over the run's: one call, kept as a step_test run.
    let real = test_step(
        json!({"step": "order", "from_execution": run_id, "values": {"total": {"result": 99}}}),
    )
    .await;
    assert_eq!(real.body["state"], "COMPLETED", "{}", real.body);
    assert_eq!(real.body["output"]["body"]["number"], 2);
    assert_eq!(real.body["input"]["inputs"]["json"]["total"], 99);
    assert_eq!(real.body["source"]["values_typed_in"], json!(["total"]));
    assert_eq!(posted.load(std::sync::atomic::Ordering::SeqCst), 2);
    let kept = get(
        &app,
        &owner,
        &format!(
            "/api/v1/executions/{}",
            real.body["execution"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(kept.body["trigger"], "step_test");
    assert_eq!(kept.body["state"], "COMPLETED");
    assert_eq!(
        kept.body["steps"].as_array().unwrap().len(),
        1,
        "{}",
        kept.body
    );

    // Sample data alone: the trigger typed in.
    let sample = test_step(json!({"step": "total", "input": {"price": 2, "qty": 4}})).await;
    assert_eq!(sample.body["output"]["result"], 8, "{}", sample.body);
    assert_eq!(sample.body["source"]["kind"], "sample");

    // A failure is told at once, not retried: the call is made once.
    let failing = test_step(
        json!({"step": "order", "definition": {"id": "wf_order", "name": "Order", "steps": [
            {"id": "order", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("http://{addr}/missing")}}
        ]}}),
    )
    .await;
    assert_eq!(failing.body["state"], "FAILED", "{}", failing.body);
    assert_eq!(failing.body["attempts"], 1, "{}", failing.body);
    assert!(
        failing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{}",
        failing.body
    );

    // The workflow's activity counts its runs, not its step tests.
    let listed = get(&app, &owner, "/api/v1/workflows").await;
    assert_eq!(
        listed.body["items"][0]["runs_this_week"], 1,
        "{}",
        listed.body
    );
    assert_eq!(listed.body["items"][0]["last_run"]["state"], "WAITING");

    // What cannot be tested says why, and where.
    for (body, path, says) in [
        (json!({"step": "nope"}), "$.step", "no step"),
        (json!({"step": "check"}), "$.step", "test run"),
        (
            json!({"step": "total", "from_execution": "not-a-run"}),
            "$.from_execution",
            "no run",
        ),
        (
            json!({"step": "total", "input": [1]}),
            "$.input",
            "JSON object",
        ),
        (
            json!({"step": "total", "definition": {"id": "wf_order", "steps": []}}),
            "$",
            "",
        ),
    ] {
        let refused = test_step(body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            refused.body
        );
        let detail = &refused.body["error"]["details"][0];
        assert!(
            detail["path"].as_str().unwrap().starts_with(path),
            "{body}: {}",
            refused.body
        );
        assert!(
            detail["message"].as_str().unwrap().contains(says),
            "{body}: {}",
            refused.body
        );
    }
}
