//! What the runtime tests share: fresh stores (the store's harness), a runtime over one, and a
//! saved workflow in a new organization.
#![allow(dead_code)]

#[path = "../../../store/tests/harness/mod.rs"]
pub mod harness;

use std::sync::Arc;

use baton_core::organization::NewUser;
use baton_core::workflow::NewWorkflow;
use baton_core::{OrgId, WorkflowId};
use baton_engine::provider::NoProvider;
use baton_engine::{Engine, Limits};
use baton_runtime::Runtime;
use serde_json::Value;

pub use harness::TestStore;

/// A runtime with the built-in connectors and no language model.
pub fn runtime(test: &TestStore) -> Arc<Runtime> {
    runtime_with(test, &Default::default())
}

/// A runtime whose HTTP steps may call servers on 127.0.0.1.
pub fn runtime_reaching_localhost(test: &TestStore) -> Arc<Runtime> {
    runtime_with(
        test,
        &baton_connectors::ConnectorSettings {
            http_allow: baton_connectors::AddressPolicy::parse("127.0.0.1").unwrap(),
            ..Default::default()
        },
    )
}

/// The limits of these tests: the defaults, but schedules may tick every second, so that a
/// test sees several ticks in seconds.
fn limits() -> Limits {
    Limits {
        min_schedule_interval: std::time::Duration::from_secs(1),
        ..Limits::default()
    }
}

fn runtime_with(test: &TestStore, settings: &baton_connectors::ConnectorSettings) -> Arc<Runtime> {
    runtime_on(test.store.clone(), settings)
}

/// A runtime over `store`, with the built-in connectors under `settings`.
pub fn runtime_on(
    store: Arc<dyn baton_store::Store>,
    settings: &baton_connectors::ConnectorSettings,
) -> Arc<Runtime> {
    let connectors: Arc<dyn baton_engine::connector::Connectors> =
        Arc::new(baton_connectors::Registry::new(settings));
    let engine = Engine::new(
        store.clone(),
        Arc::new(NoProvider),
        connectors.clone(),
        limits(),
    );
    let vault = Arc::new(baton_store::vault::Vault::new(
        store.clone(),
        baton_store::vault::MasterKeys::new(baton_store::vault::MasterKey::generate(), vec![]),
    ));
    Arc::new(Runtime::new(
        store.clone(),
        Arc::new(engine),
        connectors,
        limits(),
        vault,
    ))
}

/// Saves `definition` (whose `id` is the key) in a new organization.
pub async fn saved_workflow(test: &TestStore, definition: Value) -> (OrgId, WorkflowId) {
    let owner = test
        .store
        .create_user(NewUser {
            email: format!("{}@example.com", uuid::Uuid::now_v7().simple()),
            name: "Owner".into(),
            password_hash: None,
        })
        .await
        .unwrap();
    let org = test
        .store
        .create_organization("Acme", owner.id)
        .await
        .unwrap();
    let (workflow, _) = test
        .store
        .create_workflow(NewWorkflow {
            org_id: org.id,
            key: definition["id"].as_str().unwrap().to_owned(),
            name: definition["name"].as_str().unwrap().to_owned(),
            definition,
            created_by: None,
        })
        .await
        .unwrap();
    (org.id, workflow.id)
}

/// The execution's state once it completed, or as it stands after `patience`.
pub async fn completed_within(
    store: &dyn baton_store::Store,
    org: OrgId,
    execution: baton_core::ExecutionId,
    patience: std::time::Duration,
) -> baton_core::ExecutionState {
    let started = std::time::Instant::now();
    loop {
        let state = store
            .execution(org, execution)
            .await
            .ok()
            .flatten()
            .map(|execution| execution.state);
        if state == Some(baton_core::ExecutionState::Completed) || started.elapsed() >= patience {
            return state.unwrap_or(baton_core::ExecutionState::Pending);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// A service whose `/slow` takes a second; the paths called, in order.
pub async fn slow_service() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let calls: Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::post(
            move |axum::extract::Path(name): axum::extract::Path<String>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(name.clone());
                    if name == "slow" {
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    axum::Json(serde_json::json!({"done": name}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

/// A manual run of version 1 of `workflow` with `input`.
pub fn manual_run(org: OrgId, workflow: WorkflowId, input: Value) -> baton_runtime::NewRun {
    baton_runtime::NewRun {
        org_id: org,
        workflow_id: workflow,
        version: 1,
        trigger: baton_core::execution::TriggerKind::Manual,
        run_as: None,
        input,
    }
}

/// Waits (up to 2 s) until the service has seen `count` calls.
pub async fn calls_reach(calls: &std::sync::Mutex<Vec<String>>, count: usize) {
    for _ in 0..200 {
        if calls.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
