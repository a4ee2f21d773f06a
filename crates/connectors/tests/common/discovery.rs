//! Checking against a Google API discovery document kept in `tests/contracts/`: its schemas
//! (which name each other by bare name) as JSON Schema, and its methods' query parameters.

use serde_json::{Map, Value, json};

pub struct Discovery(pub Value);

/// Discovery schemas name each other by bare name; JSON Schema wants a pointer. `strict`
/// also refuses properties a schema does not list (for what a request sends: a misspelt
/// field is an error there, where Google would ignore it silently).
fn pointed(value: &Value, strict: bool) -> Value {
    match value {
        Value::Object(fields) => {
            let mut out: Map<String, Value> = fields
                .iter()
                .map(|(key, inner)| match (key.as_str(), inner) {
                    ("$ref", Value::String(name)) => {
                        (key.clone(), json!(format!("#/schemas/{name}")))
                    }
                    // A property named like a keyword is still a property.
                    ("properties", Value::Object(properties)) => (
                        key.clone(),
                        Value::Object(
                            properties
                                .iter()
                                .map(|(name, schema)| (name.clone(), pointed(schema, strict)))
                                .collect(),
                        ),
                    ),
                    _ => (key.clone(), pointed(inner, strict)),
                })
                .collect();
            // Discovery's "any" is JSON Schema's absent type.
            if out.get("type") == Some(&json!("any")) {
                out.remove("type");
            }
            if strict && out.contains_key("properties") && !out.contains_key("additionalProperties")
            {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| pointed(item, strict)).collect())
        }
        other => other.clone(),
    }
}

impl Discovery {
    pub fn new(text: &str) -> Self {
        Self(serde_json::from_str(text).expect("contract JSON"))
    }

    fn check(&self, schema: &str, value: &Value, strict: bool) -> Vec<String> {
        let validator = jsonschema::validator_for(&json!({
            "$ref": format!("#/schemas/{schema}"),
            "schemas": pointed(&self.0["schemas"], strict),
        }))
        .expect("the contract compiles");
        validator
            .iter_errors(value)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect()
    }

    /// Every way `value` breaks the schema `schema`.
    pub fn problems(&self, schema: &str, value: &Value) -> Vec<String> {
        self.check(schema, value, false)
    }

    /// Every way a request body breaks `schema`, a field it does not list included.
    #[allow(dead_code)]
    pub fn request_problems(&self, schema: &str, value: &Value) -> Vec<String> {
        self.check(schema, value, true)
    }

    /// The query parameters `method` does not declare.
    pub fn undeclared(&self, method: &str, query: &Map<String, Value>) -> Vec<String> {
        let declared = &self.0["methods"][method]["parameters"];
        query
            .keys()
            .filter(|name| declared.get(name.as_str()).is_none())
            .map(|name| format!("{method} has no parameter {name:?}"))
            .collect()
    }
}
