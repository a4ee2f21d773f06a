//! Arbitrary documents never make the validator panic: every input gets a verdict.

use baton_engine::compile::CompileOptions;
use baton_engine::connector::NoConnectors;
use baton_engine::{Limits, validate_document};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "id",
    "type",
    "name",
    "steps",
    "then",
    "else",
    "branches",
    "items",
    "as",
    "prompt",
    "model",
    "provider",
    "inputs",
    "on_error",
    "fallback",
    "retry",
    "timeout",
    "action",
    "service",
    "condition",
    "message",
    "duration",
    "until",
    "workflow",
    "max_items",
    "concurrency",
    "response_format",
    "max_retries",
    "base_delay",
    "trigger",
    "version",
];
const TYPES: &[&str] = &[
    "llm",
    "integration",
    "transformation",
    "conditional",
    "loop",
    "parallel",
    "approval",
    "delay",
    "sub_workflow",
    "x",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_0-9 .]{0,12}",
        "\\{\\{ ?[a-z_]{1,8}(\\.[a-z_]{1,6}){0,3} ?\\}\\}",
        "[a-z {}%#|()'\"0-9_.+*<>=!-]{0,40}",
        Just("{% for x in trigger.rows %}{{ x }}{% endfor %}".to_owned()),
        Just("{{ step_1.body | upper }}".to_owned()),
        Just("5m".to_owned()),
        Just("gpt-4o".to_owned()),
        Just("extract_json".to_owned()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|n| serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
        prop::sample::select(TYPES).prop_map(|t| Value::String(t.to_owned())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..7).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(key, value)| (key.to_owned(), value))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn step() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(TYPES),
        "[a-z_]{1,6}",
        prop::collection::vec((prop::sample::select(KEYS), value()), 0..6),
    )
        .prop_map(|(kind, id, fields)| {
            let mut object: Map<String, Value> = fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect();
            object.insert("id".into(), Value::String(id));
            object.insert("type".into(), Value::String(kind.to_owned()));
            Value::Object(object)
        })
}

fn document() -> impl Strategy<Value = Value> {
    prop_oneof![
        value(),
        prop::collection::vec(step(), 0..6)
            .prop_map(|steps| serde_json::json!({"id": "wf", "name": "n", "steps": steps})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn validation_always_answers(document in document()) {
        let limits = Limits::default();
        let options = CompileOptions { limits: &limits, connectors: &NoConnectors, extra_providers: &[] };
        match validate_document(&document, &options) {
            Ok(_) => {}
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for problem in problems {
                    prop_assert!(problem.path.starts_with('$'), "{problem}");
                    prop_assert!(!problem.message.is_empty());
                }
            }
        }
    }
}
