//! What the connector tests share.

use baton_connectors::Registry;
use serde_json::Value;

/// Fails unless `output` is what the action declares it gives (its output schema).
pub fn assert_declared_output(registry: &Registry, service: &str, action: &str, output: &Value) {
    let declared = registry
        .declarations()
        .find(|declaration| declaration.id == service)
        .and_then(|declaration| declaration.actions.iter().find(|a| a.id == action))
        .unwrap_or_else(|| panic!("{service} declares no action {action}"));
    let validator = jsonschema::validator_for(&declared.output_schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(output)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{service} {action}'s output breaks its declared schema: {problems:?} in {output}"
    );
}

/// The example input `service` declares for `action`.
#[allow(dead_code)]
pub fn example(registry: &Registry, service: &str, action: &str) -> Value {
    registry
        .declarations()
        .find(|declaration| declaration.id == service)
        .and_then(|declaration| declaration.actions.iter().find(|a| a.id == action))
        .unwrap_or_else(|| panic!("{service} declares no action {action}"))
        .example
        .clone()
}

/// Serves a fake of a service on a free port of 127.0.0.1; its address.
#[allow(dead_code)]
pub async fn serve_fake(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Makes the call, which must succeed, and checks its output is what the action declares.
#[allow(dead_code)]
pub async fn called(registry: &Registry, call: baton_engine::connector::ActionCall) -> Value {
    use baton_engine::connector::Connectors;
    let (service, action) = (call.service.clone(), call.action.clone());
    let output = registry
        .call(call)
        .await
        .unwrap_or_else(|error| panic!("{service} {action}: {}", error.message));
    assert_declared_output(registry, &service, &action, &output);
    output
}
