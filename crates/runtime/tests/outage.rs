//! A PostgreSQL outage while a worker runs: the worker reaches the server through a proxy that
//! the test cuts (every connection dropped, new ones refused) and restores, as a server restart
//! does. No execution fails, no call is sent twice, and the worker listens for other processes'
//! jobs again afterwards instead of falling back to polling.

mod common;

use std::time::Duration;

use baton_core::{ExecutionState, OrgId, WorkflowId};
use baton_runtime::{NewRun, Worker, WorkerSettings};
use common::harness::skip::skipped;
use common::{
    TestStore, calls_reach, completed_within, manual_run, runtime_on, runtime_reaching_localhost,
    saved_workflow, slow_service,
};
use serde_json::json;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy on 127.0.0.1 to `target`; sending `true` drops every connection through it and
/// refuses new ones until `false`.
async fn cuttable_proxy(target: (String, u16)) -> (u16, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (cut, is_cut) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut is_cut = is_cut.clone();
            if *is_cut.borrow() {
                continue;
            }
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect((target.0.as_str(), target.1)).await
                else {
                    return;
                };
                tokio::select! {
                    _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = is_cut.wait_for(|cut| *cut) => {}
                }
            });
        }
    });
    (port, cut)
}

fn run(org: OrgId, workflow: WorkflowId, n: i64) -> NewRun {
    manual_run(org, workflow, json!({"n": n}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_nothing_and_the_worker_listens_again() {
    let Some(server) = TestStore::postgres_address() else {
        skipped("the PostgreSQL outage test", "BATON_TEST_DATABASE_URL");
        return;
    };
    let (port, cut) = cuttable_proxy(server).await;
    let test = TestStore::postgres_through(Some(port)).await.unwrap();
    let (base, calls) = slow_service().await;
    let worker_side = runtime_reaching_localhost(&test);
    // Another process sharing the database, straight to the server: its new jobs reach the
    // worker only as PostgreSQL notifications.
    let other = test.another_process().await.unwrap();
    let starter = runtime_on(other.clone(), &Default::default());
    let (org, workflow) = saved_workflow(
        &test,
        json!({"id": "wf_outage", "name": "Outage", "steps": [
            {"id": "call", "type": "integration", "service": "http", "action": "request",
             "inputs": {"method": "POST", "url": format!("{base}/slow")}},
            {"id": "label", "type": "transformation", "action": "template",
             "inputs": {"template": "run {{ trigger.n }}"}}
        ]}),
    )
    .await;
    let settings = WorkerSettings {
        name: "behind-proxy".into(),
        concurrency: 4,
        lease: Duration::from_secs(10),
        // Only a notification (or a renewed LISTEN) wakes the worker within a test's patience.
        poll: Duration::from_secs(120),
        per_organization: baton_core::job::DEFAULT_PER_ORGANIZATION,
        drain: Duration::from_secs(5),
        clock_skew: chrono::Duration::zero(),
    };
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(Worker::new(worker_side.clone(), settings).run(stopped));
    let patience = Duration::from_secs(8);

    let before = starter.start(run(org, workflow, 0)).await.unwrap();
    assert_eq!(
        completed_within(other.as_ref(), org, before.id, patience).await,
        ExecutionState::Completed,
        "the worker hears another process's job"
    );

    // The database goes away while a call is in flight: its checkpoint waits for the database.
    let in_flight = starter.start(run(org, workflow, 1)).await.unwrap();
    calls_reach(&calls, 2).await;
    cut.send(true).unwrap();
    let mut queued_meanwhile = Vec::new();
    for n in 2..5 {
        queued_meanwhile.push(starter.start(run(org, workflow, n)).await.unwrap().id);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    cut.send(false).unwrap();

    for id in std::iter::once(in_flight.id).chain(queued_meanwhile) {
        assert_eq!(
            completed_within(other.as_ref(), org, id, Duration::from_secs(30)).await,
            ExecutionState::Completed,
            "execution {id} finished after the outage"
        );
    }
    assert_eq!(calls.lock().unwrap().len(), 5, "each call sent once");

    // Listening again: a job from the other process is heard, not left for the poll.
    let after = starter.start(run(org, workflow, 5)).await.unwrap();
    assert_eq!(
        completed_within(other.as_ref(), org, after.id, patience).await,
        ExecutionState::Completed,
        "the worker listens again after the outage"
    );
    stop.send(true).unwrap();
    worker.await.unwrap();
    drop(starter);
    other.close().await;
    test.finish().await;
}
