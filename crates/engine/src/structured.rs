//! Answers in a shape: an `llm` step's `output_schema`. The schema is compiled with the
//! workflow; each answer is read as JSON and checked against it, and what is wrong is said in
//! words a model (and a person reading the step's record) can act on.

use serde_json::{Value, json};

/// The most problems quoted back, to the model and in the step's error.
const MAX_PROBLEMS: usize = 5;
/// How much of a wrong answer is quoted back to the model when asking again.
const QUOTED_ANSWER: usize = 2_000;

/// A step's output schema, compiled once.
pub struct OutputSchema {
    schema: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for OutputSchema {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OutputSchema")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl OutputSchema {
    /// Compiles a schema, or says what keeps it from being one every provider takes.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        if !schema.is_object() {
            return Err(
                "must be a JSON Schema object, e.g. {\"type\": \"object\", \"properties\": {...}}"
                    .into(),
            );
        }
        if schema.get("type") != Some(&json!("object")) {
            return Err(
                "the schema's root must be {\"type\": \"object\", ...}: every provider answers an object, whose fields become the step's"
                    .into(),
            );
        }
        let validator = jsonschema::validator_for(schema)
            .map_err(|error| format!("not a valid JSON Schema: {error}"))?;
        Ok(Self {
            schema: schema.clone(),
            validator,
        })
    }

    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The answer's JSON value when it matches; otherwise what is wrong with it.
    pub fn check(&self, text: &str) -> Result<Value, Vec<String>> {
        let value = match parse_answer(text) {
            Some(value) => value,
            None => {
                let start: String = text.trim().chars().take(120).collect();
                return Err(vec![format!(
                    "the answer is not a JSON object; it begins: {start:?}"
                )]);
            }
        };
        let problems: Vec<String> = self
            .validator
            .iter_errors(&value)
            .take(MAX_PROBLEMS)
            .map(|error| {
                format!(
                    "{}: {error}",
                    crate::compile::pointer_to_path(&error.instance_path().to_string())
                )
            })
            .collect();
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(problems)
        }
    }
}

/// The JSON object an answer holds: all of it, or the first object in it (models wrap JSON in
/// prose or a code fence when a server cannot hold them to the format).
fn parse_answer(text: &str) -> Option<Value> {
    crate::transform::first_json(text, &['{'])
}

/// The prompt asking once more, with the answer that did not match and why.
pub fn repair_prompt(prompt: &str, answer: &str, problems: &[String]) -> String {
    let quoted: String = answer.chars().take(QUOTED_ANSWER).collect();
    format!(
        "{prompt}\n\nYour previous answer was:\n{quoted}\n\nIt does not match the JSON Schema it must follow:\n- {}\n\nAnswer again with the corrected JSON object only.",
        problems.join("\n- ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft_schema() -> OutputSchema {
        OutputSchema::compile(&json!({
            "type": "object",
            "properties": {"draft": {"type": "string"}, "urgent": {"type": "boolean"}},
            "required": ["draft"]
        }))
        .unwrap()
    }

    #[test]
    fn an_answer_that_matches_is_its_json_value() {
        assert_eq!(
            draft_schema().check("{\"draft\": \"Hello\"}").unwrap(),
            json!({"draft": "Hello"})
        );
        // Wrapped in a code fence by a model that could not be held to the format.
        assert_eq!(
            draft_schema()
                .check("Here it is:\n```json\n{\"draft\": \"Hi\", \"urgent\": false}\n```")
                .unwrap(),
            json!({"draft": "Hi", "urgent": false})
        );
    }

    #[test]
    fn what_is_wrong_is_said_at_its_path() {
        let problems = draft_schema()
            .check("{\"reply\": \"Hello\", \"urgent\": \"yes\"}")
            .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|problem| problem.contains("\"draft\" is a required property")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|problem| problem.starts_with("$.urgent:")),
            "{problems:?}"
        );
        let prose = draft_schema().check("Dear Ann, thank you.").unwrap_err();
        assert_eq!(
            prose,
            vec!["the answer is not a JSON object; it begins: \"Dear Ann, thank you.\"".to_owned()]
        );
        // A bare array is not the object asked for.
        assert!(draft_schema().check("[1, 2]").is_err());
    }

    #[test]
    fn a_schema_every_provider_cannot_take_is_refused_with_why() {
        let list = OutputSchema::compile(&json!({"type": "array"})).unwrap_err();
        assert!(list.contains("root must be"), "{list}");
        let broken = OutputSchema::compile(
            &json!({"type": "object", "properties": {"a": {"type": "text"}}}),
        )
        .unwrap_err();
        assert!(broken.starts_with("not a valid JSON Schema"), "{broken}");
    }

    #[test]
    fn asking_again_quotes_the_answer_and_the_problems() {
        let prompt = repair_prompt(
            "Draft a reply.",
            "{\"reply\": 1}",
            &["$: \"draft\" is a required property".into()],
        );
        assert!(prompt.starts_with("Draft a reply.\n\nYour previous answer was:\n{\"reply\": 1}"));
        assert!(prompt.contains("- $: \"draft\" is a required property"));
    }
}
