//! The JSON Schema of the DSL, generated from the Rust types. A step's schema is assembled per
//! kind (common fields + `type` constant + the kind's fields + its nested step lists) so that
//! each kind forbids unknown fields on its own. The generated document is checked into the repo
//! at `schemas/workflow.schema.json`; a test keeps the two equal.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::kinds::*;
use super::{StepCommon, WorkflowHeader};

const STEP_REF: &str = "#/$defs/Step";

/// A nested step-list field of a kind: its name, schema, and whether it is required.
type NestedField = (&'static str, Value, bool);

/// The whole DSL's schema (JSON Schema 2020-12).
pub fn workflow_schema() -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
    let step_list = json!({"type": "array", "items": {"$ref": STEP_REF}});

    let mut root = object_schema::<WorkflowHeader>(&mut generator);
    properties(&mut root).insert(
        "steps".into(),
        json!({"description": "Run in order; each may be addressed by later ones as `{{step_id.field}}`.", "type": "array", "items": {"$ref": STEP_REF}}),
    );
    required(&mut root).push("steps".into());

    let common = object_schema::<StepCommon>(&mut generator);
    let kinds: Vec<(&str, Value, Vec<NestedField>)> = vec![
        ("llm", object_schema::<LlmStep>(&mut generator), vec![]),
        (
            "integration",
            object_schema::<IntegrationStep>(&mut generator),
            vec![],
        ),
        (
            "transformation",
            object_schema::<TransformationStep>(&mut generator),
            vec![],
        ),
        (
            "conditional",
            object_schema::<ConditionalStep>(&mut generator),
            vec![
                ("then", step_list.clone(), true),
                ("else", step_list.clone(), false),
            ],
        ),
        (
            "loop",
            object_schema::<LoopStep>(&mut generator),
            vec![("steps", step_list.clone(), true)],
        ),
        (
            "parallel",
            object_schema::<ParallelStep>(&mut generator),
            vec![(
                "branches",
                json!({"type": "array", "minItems": 1, "items": step_list.clone()}),
                true,
            )],
        ),
        (
            "approval",
            object_schema::<ApprovalStep>(&mut generator),
            vec![],
        ),
        ("delay", object_schema::<DelayStep>(&mut generator), vec![]),
        (
            "sub_workflow",
            object_schema::<SubWorkflowStep>(&mut generator),
            vec![],
        ),
        ("agent", object_schema::<AgentStep>(&mut generator), vec![]),
    ];
    let variants: Vec<Value> = kinds
        .into_iter()
        .map(|(name, mut schema, nested)| {
            let mut merged = Map::new();
            merged.insert(
                "id".into(),
                json!({"description": "Unique within the workflow; later steps read the output as `{{id.field}}`.", "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}),
            );
            merged.insert("type".into(), json!({"const": name}));
            for (key, value) in properties(&mut common.clone()).iter() {
                merged.insert(key.clone(), value.clone());
            }
            merged.insert(
                "on_error".into(),
                json!({
                    "description": "What a failure does: \"fail\" (default) stops the execution, \"continue\" makes the error the output, {\"fallback\": [steps]} runs other steps instead.",
                    "oneOf": [
                        {"enum": ["fail", "continue"]},
                        {"type": "object", "properties": {"fallback": {"type": "array", "items": {"$ref": STEP_REF}}}, "required": ["fallback"], "additionalProperties": false}
                    ]
                }),
            );
            let mut required_fields = vec![Value::from("id"), Value::from("type")];
            required_fields.extend(required(&mut schema).iter().cloned());
            for (key, value) in properties(&mut schema).iter() {
                merged.insert(key.clone(), value.clone());
            }
            for (key, value, is_required) in nested {
                merged.insert(key.into(), value);
                if is_required {
                    required_fields.push(key.into());
                }
            }
            let mut variant = json!({
                "type": "object",
                "properties": merged,
                "required": required_fields,
                "additionalProperties": false,
            });
            if let Some(description) = schema.get("description") {
                variant["description"] = description.clone();
            }
            if name == "delay" {
                variant["oneOf"] = json!([{"required": ["duration"]}, {"required": ["until"]}]);
            }
            variant
        })
        .collect();

    let mut definitions = generator.take_definitions(true);
    definitions.insert(
        "Step".into(),
        json!({"description": "One step; its `type` decides its other fields.", "oneOf": variants}),
    );
    let mut document = Map::new();
    document.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    document.insert("title".into(), json!("Baton workflow"));
    for (key, value) in root.as_object().cloned().unwrap_or_default() {
        if key != "$schema" && key != "title" {
            document.insert(key, value);
        }
    }
    document.insert("$defs".into(), Value::Object(definitions));
    Value::Object(document)
}

/// A struct's own object schema (properties inline, referenced types in the generator's defs).
fn object_schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    let mut schema = T::json_schema(generator).to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
    }
    schema
}

fn properties(schema: &mut Value) -> &mut Map<String, Value> {
    let object = schema
        .as_object_mut()
        .expect("a struct's schema is an object");
    object
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .expect("properties is an object")
}

fn required(schema: &mut Value) -> &mut Vec<Value> {
    let object = schema
        .as_object_mut()
        .expect("a struct's schema is an object");
    object
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .expect("required is a list")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKED_IN: &str = include_str!("../../../../schemas/workflow.schema.json");

    #[test]
    fn the_checked_in_schema_is_the_generated_one() {
        let generated = serde_json::to_string_pretty(&workflow_schema()).unwrap() + "\n";
        if generated != CHECKED_IN {
            if std::env::var_os("BATON_UPDATE_SCHEMA").is_some() {
                let path = concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../schemas/workflow.schema.json"
                );
                std::fs::write(path, &generated).unwrap();
            } else {
                panic!("schemas/workflow.schema.json is stale: rerun with BATON_UPDATE_SCHEMA=1");
            }
        }
    }

    #[test]
    fn every_step_kind_has_a_schema_that_forbids_unknown_fields() {
        let schema = workflow_schema();
        let variants = schema["$defs"]["Step"]["oneOf"].as_array().unwrap();
        let kinds: Vec<&str> = variants
            .iter()
            .map(|v| v["properties"]["type"]["const"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, StepKind::TYPES);
        for variant in variants {
            assert_eq!(variant["additionalProperties"], false);
            for common in ["id", "type", "name", "retry", "timeout", "on_error"] {
                assert!(
                    variant["properties"].get(common).is_some(),
                    "{common} in {variant}"
                );
            }
        }
        assert_eq!(
            variants[1]["required"],
            json!(["id", "type", "service", "action"])
        );
    }
}
