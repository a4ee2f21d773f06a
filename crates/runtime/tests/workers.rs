//! Workers on real stores: executions started through the queue run to the end once each,
//! several workers share the work, and a job whose worker vanished is taken over and resumed.

mod common;

use std::time::Duration;

use baton_core::job::Claim;
use baton_core::{ExecutionState, OrgId, WorkflowId};
use baton_runtime::{NewRun, Worker, WorkerSettings};
use chrono::Utc;
use common::harness;
use common::{
    TestStore, calls_reach, completed_within, manual_run, runtime, runtime_reaching_localhost,
    saved_workflow, slow_service,
};
use serde_json::json;
use tokio::sync::watch;

conformance!(
    queued_executions_run_to_the_end_once_each,
    two_workers_share_the_queue_without_running_a_job_twice,
    a_job_whose_worker_vanished_is_taken_over_and_resumed,
    a_workflow_limited_to_one_runs_one_at_a_time_across_workers,
    a_stopping_worker_lets_the_call_in_flight_finish_and_hands_back_the_rest,
    a_worker_whose_clock_runs_ahead_takes_no_live_workers_job,
);

async fn workflow(test: &TestStore) -> (OrgId, WorkflowId) {
    saved_workflow(
        test,
        json!({"id": "wf_total", "name": "Total", "steps": [
            {"id": "total", "type": "transformation", "action": "calculate", "inputs": {"expression": "trigger.price * trigger.qty"}},
            {"id": "label", "type": "transformation", "action": "template", "inputs": {"template": "total {{ total.result }}"}}
        ]}),
    )
    .await
}

fn run(org: OrgId, workflow: WorkflowId, n: i64) -> NewRun {
    manual_run(org, workflow, json!({"price": n, "qty": 2}))
}

fn settings(name: &str) -> WorkerSettings {
    WorkerSettings {
        name: name.into(),
        concurrency: 4,
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(50),
        per_organization: baton_core::job::DEFAULT_PER_ORGANIZATION,
        drain: Duration::from_secs(10),
        clock_skew: chrono::Duration::zero(),
    }
}

async fn queued_executions_run_to_the_end_once_each(test: &TestStore) {
    let runtime = runtime(test);
    let (org, workflow) = workflow(test).await;
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(Worker::new(runtime.clone(), settings("w1")).run(stopped));
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(runtime.start(run(org, workflow, n)).await.unwrap().id);
    }
    for (n, id) in ids.iter().enumerate() {
        let done = runtime
            .wait(org, *id, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(done.state, ExecutionState::Completed, "{done:?}");
        assert_eq!(
            done.output,
            Some(json!({"text": format!("total {}", n * 2)}))
        );
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    let claim = Claim {
        worker: "check".into(),
        now: Utc::now() + chrono::Duration::hours(1),
        lease: chrono::Duration::seconds(1),
        per_organization: baton_core::job::DEFAULT_PER_ORGANIZATION,
    };
    assert!(
        test.store.claim(&claim).await.unwrap().is_none(),
        "every job was completed and removed"
    );
}

async fn two_workers_share_the_queue_without_running_a_job_twice(test: &TestStore) {
    let first = runtime(test);
    let second = runtime(test);
    let (org, workflow) = workflow(test).await;
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(first.start(run(org, workflow, n)).await.unwrap().id);
    }
    let (stop, stopped) = watch::channel(false);
    let a = tokio::spawn(Worker::new(first.clone(), settings("a")).run(stopped.clone()));
    let b = tokio::spawn(Worker::new(second.clone(), settings("b")).run(stopped));
    for id in &ids {
        let done = first.wait(org, *id, Duration::from_secs(30)).await.unwrap();
        assert_eq!(done.state, ExecutionState::Completed);
        let runs = test.store.step_runs(*id).await.unwrap();
        assert!(
            runs.iter().all(|run| run.attempts == 1),
            "no step ran twice: {runs:?}"
        );
    }
    stop.send(true).unwrap();
    a.await.unwrap();
    b.await.unwrap();
}

async fn a_job_whose_worker_vanished_is_taken_over_and_resumed(test: &TestStore) {
    let runtime = runtime(test);
    let (org, workflow) = workflow(test).await;
    let execution = runtime.start(run(org, workflow, 21)).await.unwrap();
    // A worker claims the job and dies without a word: its lease runs out in one second.
    let vanished = Claim {
        worker: "vanished".into(),
        now: Utc::now(),
        lease: chrono::Duration::seconds(1),
        per_organization: baton_core::job::DEFAULT_PER_ORGANIZATION,
    };
    let job = test.store.claim(&vanished).await.unwrap().expect("the job");
    assert_eq!(job.execution_id, execution.id);
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(Worker::new(runtime.clone(), settings("heir")).run(stopped));
    let early = runtime
        .wait(org, execution.id, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(
        early.state,
        ExecutionState::Pending,
        "nobody runs a job while its lease holds"
    );
    let done = runtime
        .wait(org, execution.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, ExecutionState::Completed);
    assert_eq!(done.output, Some(json!({"text": "total 42"})));
    assert!(
        !test
            .store
            .renew(
                job.id,
                "vanished",
                Utc::now() + chrono::Duration::seconds(5)
            )
            .await
            .unwrap(),
        "the vanished worker no longer holds it"
    );
    stop.send(true).unwrap();
    worker.await.unwrap();
}

async fn a_workflow_limited_to_one_runs_one_at_a_time_across_workers(test: &TestStore) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A service that notes how many calls it is answering at once.
    #[derive(Clone, Default)]
    struct Seen {
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
    }
    let seen = Seen::default();
    let service = axum::Router::new()
        .route(
            "/work",
            axum::routing::post(
                |axum::extract::State(seen): axum::extract::State<Seen>| async move {
                    let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    seen.now.fetch_sub(1, Ordering::SeqCst);
                    seen.calls.fetch_add(1, Ordering::SeqCst);
                    "done"
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });

    let (org, workflow) = saved_workflow(
        test,
        json!({"id": "wf_serial", "name": "Serial", "concurrency": 1, "steps": [
            {"id": "work", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("http://{addr}/work")}}
        ]}),
    )
    .await;
    let first = runtime_reaching_localhost(test);
    let second = runtime_reaching_localhost(test);
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(first.start(run(org, workflow, n)).await.unwrap().id);
    }
    let (stop, stopped) = watch::channel(false);
    let a = tokio::spawn(Worker::new(first.clone(), settings("a")).run(stopped.clone()));
    let b = tokio::spawn(Worker::new(second.clone(), settings("b")).run(stopped));
    for id in &ids {
        let done = first.wait(org, *id, Duration::from_secs(30)).await.unwrap();
        assert_eq!(done.state, ExecutionState::Completed, "{done:?}");
    }
    stop.send(true).unwrap();
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(seen.calls.load(Ordering::SeqCst), 5);
    assert_eq!(
        seen.most.load(Ordering::SeqCst),
        1,
        "two workers with four slots each still ran one at a time"
    );
}

async fn a_stopping_worker_lets_the_call_in_flight_finish_and_hands_back_the_rest(
    test: &TestStore,
) {
    let (base, calls) = slow_service().await;
    let runtime = runtime_reaching_localhost(test);
    let (org, workflow) = saved_workflow(
        test,
        json!({"id": "wf_two", "name": "Two calls", "steps": [
            {"id": "first", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("{base}/slow")}},
            {"id": "second", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("{base}/next")}}
        ]}),
    )
    .await;
    let execution = runtime.start(run(org, workflow, 1)).await.unwrap();
    let (stop, stopped) = watch::channel(false);
    let draining = tokio::spawn(Worker::new(runtime.clone(), settings("draining")).run(stopped));
    calls_reach(&calls, 1).await;
    stop.send(true).unwrap();
    draining.await.unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        ["slow"],
        "the call in flight finished; the next step was not started"
    );
    let steps = runtime.store.step_runs(execution.id).await.unwrap();
    assert_eq!(
        steps[0].state,
        baton_core::StepState::Completed,
        "checkpointed"
    );
    let paused = runtime
        .store
        .execution(org, execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        paused.state,
        ExecutionState::Waiting,
        "handed back to resume at once"
    );

    let (stop, stopped) = watch::channel(false);
    let heir = tokio::spawn(Worker::new(runtime.clone(), settings("heir")).run(stopped));
    let state = completed_within(
        runtime.store.as_ref(),
        org,
        execution.id,
        Duration::from_secs(5),
    )
    .await;
    stop.send(true).unwrap();
    heir.await.unwrap();
    assert_eq!(state, ExecutionState::Completed);
    assert_eq!(
        *calls.lock().unwrap(),
        ["slow", "next"],
        "no call was sent twice"
    );
}

async fn a_worker_whose_clock_runs_ahead_takes_no_live_workers_job(test: &TestStore) {
    let (base, calls) = slow_service().await;
    let runtime = runtime_reaching_localhost(test);
    let (org, workflow) = saved_workflow(
        test,
        json!({"id": "wf_slow", "name": "Slow", "steps": [
            {"id": "first", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("{base}/slow")}},
            {"id": "again", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("{base}/slow")}},
            {"id": "last", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("{base}/slow")}}
        ]}),
    )
    .await;
    let execution = runtime.start(run(org, workflow, 1)).await.unwrap();
    let (stop, stopped) = watch::channel(false);
    let live = tokio::spawn(Worker::new(runtime.clone(), settings("live")).run(stopped.clone()));
    calls_reach(&calls, 1).await;
    // A second worker on a machine whose clock is five minutes fast.
    let ahead = WorkerSettings {
        clock_skew: chrono::Duration::minutes(5),
        ..settings("ahead")
    };
    let fast = tokio::spawn(Worker::new(runtime.clone(), ahead).run(stopped));
    let state = completed_within(
        runtime.store.as_ref(),
        org,
        execution.id,
        Duration::from_secs(5),
    )
    .await;
    stop.send(true).unwrap();
    live.await.unwrap();
    fast.await.unwrap();
    assert_eq!(state, ExecutionState::Completed);
    assert_eq!(
        calls.lock().unwrap().len(),
        3,
        "each step called once: the fast clock took no live lease"
    );
}
