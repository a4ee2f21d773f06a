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
