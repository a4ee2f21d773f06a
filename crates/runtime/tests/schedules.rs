//! Schedules on real stores: two schedulers fire each due time once, and times missed while
//! nothing ran are skipped or run once, as the workflow says.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use baton_core::execution::{ExecutionFilter, TriggerKind};
use baton_core::{OrgId, PageRequest, WorkflowId};
use baton_runtime::scheduler::delivery_id;
use baton_runtime::{NewRun, Scheduler};
use chrono::Utc;
use common::harness;
use common::{TestStore, runtime, saved_workflow};
use serde_json::{Value, json};
use tokio::sync::watch;

conformance!(
    two_schedulers_fire_each_due_time_once,
    missed_times_are_skipped_or_run_once,
    the_scheduler_forgets_audit_events_over_a_year_old,
);

async fn scheduled(test: &TestStore, key: &str, trigger: Value) -> (OrgId, WorkflowId) {
    let (org, workflow) = saved_workflow(
        test,
        json!({"id": key, "name": "Tick", "trigger": trigger, "steps": [
            {"id": "at", "type": "transformation", "action": "set", "inputs": {"at": "{{ trigger.scheduled_at }}"}}
        ]}),
    )
    .await;
    test.store.set_active(org, workflow, true).await.unwrap();
    (org, workflow)
}

async fn fired(test: &TestStore, org: OrgId, workflow: WorkflowId) -> Vec<String> {
    let filter = ExecutionFilter {
        workflow_id: Some(workflow),
        state: None,
    };
    let page = test
        .store
        .list_executions(org, &filter, PageRequest::first(500))
        .await
        .unwrap();
    let mut times: Vec<String> = page
        .items
        .iter()
        .inspect(|execution| assert_eq!(execution.trigger, TriggerKind::Schedule))
        .map(|execution| execution.input["scheduled_at"].as_str().unwrap().to_owned())
        .collect();
    times.sort();
    times
}

async fn two_schedulers_fire_each_due_time_once(test: &TestStore) {
    let (org, workflow) = scheduled(
        test,
        "wf_tick",
        json!({"type": "schedule", "cron": "*/2 * * * * *"}),
    )
    .await;
    let (stop, stopped) = watch::channel(false);
    let started = Utc::now();
    let first = tokio::spawn(Scheduler::new(runtime(test)).run(stopped.clone()));
    let second = tokio::spawn(Scheduler::new(runtime(test)).run(stopped));
    tokio::time::sleep(Duration::from_millis(6500)).await;
    stop.send(true).unwrap();
    first.await.unwrap();
    second.await.unwrap();
    let stopped_at = Utc::now();
    let times = fired(test, org, workflow).await;
    let distinct: HashSet<&String> = times.iter().collect();
    assert_eq!(
        distinct.len(),
        times.len(),
        "no time fired twice: {times:?}"
    );
    // Every even second strictly inside the window fired (the edges may go either way).
    let schedule = baton_engine::schedule::Schedule::parse("*/2 * * * * *", None).unwrap();
    let inside: Vec<String> = schedule
        .upcoming(started + chrono::Duration::milliseconds(700), 10)
        .into_iter()
        .take_while(|time| *time < stopped_at - chrono::Duration::milliseconds(700))
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .collect();
    assert!(inside.len() >= 2, "the window holds due times: {inside:?}");
    for time in &inside {
        assert!(times.contains(time), "{time} did not fire: {times:?}");
    }
    assert!(times.len() <= inside.len() + 2, "{times:?} vs {inside:?}");
}

async fn missed_times_are_skipped_or_run_once(test: &TestStore) {
    let runtime = runtime(test);
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let mut workflows = Vec::new();
    for (key, missed) in [("wf_skip", "skip"), ("wf_once", "run_once")] {
        let (org, workflow) = scheduled(
            test,
            key,
            json!({"type": "schedule", "cron": "* * * * *", "missed": missed}),
        )
        .await;
        // The last time it fired, an hour ago: sixty minutes were missed since.
        let last = baton_engine::schedule::Schedule::parse("* * * * *", None)
            .unwrap()
            .next_after(hour_ago)
            .unwrap();
        runtime
            .deliver(
                NewRun {
                    org_id: org,
                    workflow_id: workflow,
                    version: 1,
                    trigger: TriggerKind::Schedule,
                    run_as: None,
                    input: json!({"scheduled_at": last.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}),
                },
                &delivery_id(last),
            )
            .await
            .unwrap();
        workflows.push((org, workflow));
    }
    let (stop, stopped) = watch::channel(false);
    let scheduler = tokio::spawn(Scheduler::new(runtime.clone()).run(stopped));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.send(true).unwrap();
    scheduler.await.unwrap();
    let now = Utc::now();
    let skipped = fired(test, workflows[0].0, workflows[0].1).await;
    let once = fired(test, workflows[1].0, workflows[1].1).await;
    // A minute boundary may pass during the test and fire both; the missed hour never does.
    let caught_up = once.len() - skipped.len();
    assert_eq!(
        caught_up, 1,
        "run_once fires the latest missed minute once: {once:?} / {skipped:?}"
    );
    let latest_missed = once.last().unwrap();
    let minute_ago =
        (now - chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert!(
        latest_missed.as_str() > minute_ago.as_str(),
        "the latest missed time, not an old one: {once:?}"
    );
}

async fn the_scheduler_forgets_audit_events_over_a_year_old(test: &TestStore) {
    let (org, _) = scheduled(
        test,
        "wf_audited",
        json!({"type": "schedule", "cron": "0 0 1 1 *"}),
    )
    .await;
    let uuid = org.as_uuid();
    for (id, at) in [
        (uuid::Uuid::now_v7(), "2023-05-01T00:00:00"),
        (uuid::Uuid::now_v7(), "2024-05-01T00:00:00"),
    ] {
        test.raw_sql(
            &format!(
                "INSERT INTO audit_events (id, org_id, action, details, at) VALUES \
                 (X'{}', X'{}', 'workflow.created', '{{}}', '{at}+00:00')",
                id.simple(),
                uuid.simple()
            ),
            &format!(
                "INSERT INTO audit_events (id, org_id, action, details, at) VALUES \
                 ('{id}', '{uuid}', 'workflow.created', '{{}}', '{at}Z')"
            ),
        )
        .await
        .unwrap();
    }
    let scheduler = Scheduler::new(runtime(test));
    assert_eq!(scheduler.forget_old_audit_events().await, 2);
    assert_eq!(scheduler.forget_old_audit_events().await, 0);
}
