//! Reading a workflow document from a file and compiling it, for `validate` and `run`.

use std::path::Path;

use baton_core::dsl::Problem;
use baton_engine::{
    CompileOptions, CompiledWorkflow, Limits, connector::Connectors, validate_document,
};
use serde_json::Value;

/// The JSON document in `path`, or the problem that stops it being read.
pub fn load(path: &Path) -> Result<Value, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        vec![Problem::new(
            "$",
            format!("cannot read {}: {error}", path.display()),
        )]
    })?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|error| vec![Problem::new("$", format!("invalid JSON: {error}"))])?;
    if let Some((path, key)) = baton_core::dsl::text::duplicate_key(&text) {
        return Err(vec![Problem::new(
            path,
            format!("the key {key:?} is given twice; give it once"),
        )]);
    }
    Ok(document)
}

/// `extra_providers`: the OpenAI-compatible servers configured (`BATON_LLM_SERVERS`).
pub fn compile(
    document: &Value,
    connectors: &dyn Connectors,
    limits: &Limits,
    extra_providers: &[String],
) -> Result<CompiledWorkflow, Vec<Problem>> {
    validate_document(
        document,
        &CompileOptions {
            limits,
            connectors,
            extra_providers,
        },
    )
}

/// The ids of the OpenAI-compatible servers in `BATON_LLM_SERVERS` (or `flag`).
pub fn llm_servers(flag: Option<&str>) -> Result<Vec<String>, crate::settings::SettingError> {
    let text = match flag {
        Some(text) => text.to_owned(),
        None => std::env::var("BATON_LLM_SERVERS").unwrap_or_default(),
    };
    Ok(crate::settings::llm_servers(&text)?.into_keys().collect())
}

/// A `--input`/`--user` value: JSON, or `@FILE` naming a JSON file.
pub fn json_argument(flag: &str, text: Option<&str>) -> Result<Value, String> {
    let Some(text) = text else {
        return Ok(Value::Object(Default::default()));
    };
    let (source, content) = match text.strip_prefix('@') {
        Some(path) => {
            let content = std::fs::read_to_string(path)
                .map_err(|error| format!("{flag}: cannot read {path}: {error}"))?;
            (format!(" in {path}"), content)
        }
        None => (String::new(), text.to_owned()),
    };
    serde_json::from_str(&content).map_err(|error| format!("{flag}: invalid JSON{source}: {error}"))
}
