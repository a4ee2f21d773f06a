//! The `transformation` actions that need no scope: pure functions from rendered inputs to an
//! output. (`calculate` and `filter` evaluate expressions, so the runner does them.)

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

use baton_core::dsl::TransformAction;

use crate::error::StepError;

/// jq functions that would reach outside the step: the environment, stdin, stderr. (`halt`
/// stays: it only ends the program, which the runner turns into an error.)
const JQ_DENIED: [&str; 6] = [
    "env",
    "input",
    "inputs",
    "debug",
    "stderr",
    "input_filename",
];

pub fn apply(action: TransformAction, inputs: &Value) -> Result<Value, StepError> {
    match action {
        TransformAction::ExtractJson => extract_json(text(inputs, "text")?),
        TransformAction::Jq => {
            let program = text(inputs, "program")?;
            let data = match inputs.get("data") {
                Some(data) => data.clone(),
                None => {
                    let mut rest = inputs.as_object().cloned().unwrap_or_default();
                    rest.remove("program");
                    Value::Object(rest)
                }
            };
            jq(program, data)
        }
        TransformAction::Template => Ok(json!({"text": text(inputs, "template")?})),
        TransformAction::Set => Ok(inputs.clone()),
        TransformAction::Split => {
            let separator = optional_text(inputs, "separator")?.unwrap_or(",");
            let items: Vec<Value> = text(inputs, "text")?
                .split(separator)
                .map(|part| Value::String(part.trim().to_owned()))
                .filter(|part| part.as_str() != Some(""))
                .collect();
            Ok(json!({"items": items}))
        }
        TransformAction::Join => {
            let separator = optional_text(inputs, "separator")?.unwrap_or(",");
            let parts: Vec<String> = list(inputs, "items")?
                .iter()
                .map(|item| match item {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect();
            Ok(json!({"text": parts.join(separator)}))
        }
        TransformAction::ParseDate => parse_date(inputs),
        TransformAction::FormatDate => format_date(inputs),
        TransformAction::Sort => sort(inputs),
        TransformAction::Deduplicate => deduplicate(inputs),
        TransformAction::Calculate | TransformAction::Filter => Err(StepError::system(
            "calculate and filter are evaluated by the runner",
        )),
    }
}

fn field<'a>(inputs: &'a Value, name: &str) -> Result<&'a Value, StepError> {
    inputs
        .get(name)
        .ok_or_else(|| StepError::permanent(format!("inputs.{name} is required")))
}

fn text<'a>(inputs: &'a Value, name: &str) -> Result<&'a str, StepError> {
    field(inputs, name)?
        .as_str()
        .ok_or_else(|| StepError::permanent(format!("inputs.{name} must be text")))
}

fn optional_text<'a>(inputs: &'a Value, name: &str) -> Result<Option<&'a str>, StepError> {
    match inputs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(StepError::permanent(format!("inputs.{name} must be text"))),
    }
}

pub(crate) fn list<'a>(inputs: &'a Value, name: &str) -> Result<&'a Vec<Value>, StepError> {
    field(inputs, name)?
        .as_array()
        .ok_or_else(|| StepError::permanent(format!("inputs.{name} must be a list")))
}

/// The first JSON object or array in a text, also inside a Markdown code fence. An object's
/// fields become the output; an array becomes `{items}`.
pub fn extract_json(text: &str) -> Result<Value, StepError> {
    let found = text
        .char_indices()
        .filter(|(_, c)| *c == '{' || *c == '[')
        .find_map(|(start, _)| {
            let mut stream =
                serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(value)) if value.is_object() || value.is_array() => Some(value),
                _ => None,
            }
        });
    match found {
        Some(Value::Object(fields)) => Ok(Value::Object(fields)),
        Some(items) => Ok(json!({"items": items})),
        None => Err(StepError::permanent(
            "no JSON object or array found in the text",
        )),
    }
}

/// Runs a jq program; one result is the output, several become `{results}`.
pub fn jq(program: &str, data: Value) -> Result<Value, StepError> {
    use jaq_core::load::{Arena, File, Loader};
    use jaq_core::{Compiler, Ctx, Vars, data};
    use jaq_json::Val;

    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !JQ_DENIED.contains(name));
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(
            &arena,
            File {
                code: program,
                path: (),
            },
        )
        .map_err(|errors| {
            StepError::permanent(format!(
                "the jq program does not parse: {}",
                describe(&errors)
            ))
        })?;
    let filter = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            StepError::permanent(format!(
                "the jq program does not compile: {}",
                describe(&errors)
            ))
        })?;
    let input: Val =
        serde_json::from_value(data).map_err(|error| StepError::permanent(error.to_string()))?;
    let context = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut results = Vec::new();
    for (index, result) in filter.id.run((context, input)).enumerate() {
        if index >= 10_000 {
            return Err(StepError::permanent(
                "the jq program produced more than 10000 results",
            ));
        }
        let value = result.map_err(|exception| match exception.get_err() {
            Ok(error) => StepError::permanent(format!("jq: {error}")),
            Err(_) => StepError::permanent("jq: the program stopped without a value"),
        })?;
        let json: Value = serde_json::from_str(&value.to_string()).map_err(|error| {
            StepError::permanent(format!("jq produced a value that is not JSON: {error}"))
        })?;
        results.push(json);
    }
    Ok(match results.len() {
        1 => results.pop().unwrap_or(Value::Null),
        _ => json!({"results": results}),
    })
}

fn describe<T: std::fmt::Debug>(errors: &T) -> String {
    let text = format!("{errors:?}");
    text.chars().take(300).collect()
}

/// Checks a jq program's syntax when the workflow is loaded.
pub fn check_jq(program: &str) -> Result<(), String> {
    use jaq_core::load::{Arena, File, Loader};
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let arena = Arena::default();
    Loader::new(defs)
        .load(
            &arena,
            File {
                code: program,
                path: (),
            },
        )
        .map(|_| ())
        .map_err(|errors| describe(&errors))
}

fn timezone(inputs: &Value) -> Result<Option<chrono_tz::Tz>, StepError> {
    optional_text(inputs, "timezone")?
        .map(|name| {
            name.parse::<chrono_tz::Tz>()
                .map_err(|_| StepError::permanent(format!("unknown time zone {name:?}")))
        })
        .transpose()
}

fn parse_date(inputs: &Value) -> Result<Value, StepError> {
    let raw = text(inputs, "text")?.trim();
    let zone = timezone(inputs)?;
    let parsed: DateTime<Utc> = match optional_text(inputs, "format")? {
        None => DateTime::parse_from_rfc3339(raw)
            .map(|time| time.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                    .map(|date| local(date.and_hms_opt(0, 0, 0).unwrap_or_default(), zone))
            })
            .map_err(|_| {
                StepError::permanent(format!(
                    "{raw:?} is not an RFC 3339 date; give inputs.format"
                ))
            })?,
        Some(format) => match DateTime::parse_from_str(raw, format) {
            Ok(time) => time.with_timezone(&Utc),
            Err(_) => NaiveDateTime::parse_from_str(raw, format)
                .or_else(|_| {
                    NaiveDate::parse_from_str(raw, format)
                        .map(|date| date.and_hms_opt(0, 0, 0).unwrap_or_default())
                })
                .map(|naive| local(naive, zone))
                .map_err(|error| {
                    StepError::permanent(format!(
                        "{raw:?} does not match format {format:?}: {error}"
                    ))
                })?,
        },
    };
    Ok(json!({
        "iso": parsed.to_rfc3339(),
        "unix": parsed.timestamp(),
        "date": parsed.format("%Y-%m-%d").to_string(),
        "time": parsed.format("%H:%M:%S").to_string(),
    }))
}

fn local(naive: NaiveDateTime, zone: Option<chrono_tz::Tz>) -> DateTime<Utc> {
    match zone {
        Some(zone) => zone
            .from_local_datetime(&naive)
            .earliest()
            .map_or_else(|| naive.and_utc(), |time| time.with_timezone(&Utc)),
        None => naive.and_utc(),
    }
}

fn format_date(inputs: &Value) -> Result<Value, StepError> {
    let time: DateTime<Utc> = match field(inputs, "date")? {
        Value::Number(seconds) => seconds
            .as_i64()
            .and_then(|seconds| Utc.timestamp_opt(seconds, 0).single())
            .ok_or_else(|| StepError::permanent("inputs.date is not a valid unix time"))?,
        Value::String(text) => DateTime::parse_from_rfc3339(text.trim())
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| {
                StepError::permanent(format!("inputs.date {text:?} is not an RFC 3339 date"))
            })?,
        _ => {
            return Err(StepError::permanent(
                "inputs.date must be an RFC 3339 text or unix seconds",
            ));
        }
    };
    let format = text(inputs, "format")?;
    let mut rendered = String::new();
    let result = match timezone(inputs)? {
        Some(zone) => std::fmt::write(
            &mut rendered,
            format_args!("{}", time.with_timezone(&zone).format(format)),
        ),
        None => std::fmt::write(&mut rendered, format_args!("{}", time.format(format))),
    };
    result.map_err(|_| {
        StepError::permanent(format!(
            "inputs.format {format:?} is not a valid date format"
        ))
    })?;
    Ok(json!({"text": rendered}))
}

fn key_of<'a>(item: &'a Value, by: Option<&str>) -> &'a Value {
    match by {
        Some(path) => path.split('.').fold(item, |value, segment| {
            value.get(segment).unwrap_or(&Value::Null)
        }),
        None => item,
    }
}

/// Numbers before text, text in order, then everything else by its JSON.
fn compare(left: &Value, right: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        (a, b) => a.to_string().cmp(&b.to_string()),
    }
}

fn sort(inputs: &Value) -> Result<Value, StepError> {
    let by = optional_text(inputs, "by")?;
    let descending = match optional_text(inputs, "order")? {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(StepError::permanent(format!(
                "inputs.order must be \"asc\" or \"desc\", not {other:?}"
            )));
        }
    };
    let mut items = list(inputs, "items")?.clone();
    items.sort_by(|a, b| {
        let order = compare(key_of(a, by), key_of(b, by));
        if descending { order.reverse() } else { order }
    });
    Ok(json!({"items": items}))
}

fn deduplicate(inputs: &Value) -> Result<Value, StepError> {
    let by = optional_text(inputs, "by")?;
    let mut seen = std::collections::HashSet::new();
    let items: Vec<Value> = list(inputs, "items")?
        .iter()
        .filter(|item| seen.insert(key_of(item, by).to_string()))
        .cloned()
        .collect();
    Ok(json!({"items": items}))
}

/// Wraps a non-object value so that a step's output is always an object.
pub fn as_output(value: Value, field: &str) -> Value {
    match value {
        Value::Object(_) => value,
        other => {
            let mut wrapped = Map::new();
            wrapped.insert(field.to_owned(), other);
            Value::Object(wrapped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_json_finds_the_object_even_in_a_code_fence() {
        let text = "Here is the draft:\n```json\n{\"draft\": \"Dear Ann, thanks!\", \"tone\": \"warm\"}\n```\nBest";
        assert_eq!(
            extract_json(text).unwrap(),
            json!({"draft": "Dear Ann, thanks!", "tone": "warm"})
        );
        assert_eq!(
            extract_json("list: [1, 2]").unwrap(),
            json!({"items": [1, 2]})
        );
        assert_eq!(
            extract_json("{not json} then {\"a\": 1}").unwrap(),
            json!({"a": 1})
        );
        assert!(
            extract_json("no json here")
                .unwrap_err()
                .message
                .contains("no JSON")
        );
    }

    #[test]
    fn jq_runs_over_the_inputs_and_cannot_reach_the_environment() {
        let result = apply(
            TransformAction::Jq,
            &json!({"program": "[.rows[] | select(.score > 50) | .name]", "data": {"rows": [{"name": "a", "score": 60}, {"name": "b", "score": 10}]}}),
        );
        assert_eq!(result.unwrap(), json!(["a"]));
        let implicit = apply(
            TransformAction::Jq,
            &json!({"program": ".count + 1", "count": 41}),
        );
        assert_eq!(implicit.unwrap(), json!(42));
        assert!(apply(TransformAction::Jq, &json!({"program": "env.HOME"})).is_err());
        assert!(apply(TransformAction::Jq, &json!({"program": "$ENV"})).is_err());
        assert!(
            apply(TransformAction::Jq, &json!({"program": ".[["}))
                .unwrap_err()
                .message
                .contains("does not parse")
        );
    }

    #[test]
    fn text_and_lists() {
        assert_eq!(
            apply(TransformAction::Split, &json!({"text": "a, b,,c"})).unwrap(),
            json!({"items": ["a", "b", "c"]})
        );
        assert_eq!(
            apply(
                TransformAction::Join,
                &json!({"items": ["a", 2], "separator": " & "})
            )
            .unwrap(),
            json!({"text": "a & 2"})
        );
        let people = json!([{"n": "b", "age": 30}, {"n": "a", "age": 25}, {"n": "b", "age": 41}]);
        assert_eq!(
            apply(
                TransformAction::Sort,
                &json!({"items": people, "by": "age", "order": "desc"})
            )
            .unwrap()["items"][0]["age"],
            json!(41)
        );
        assert_eq!(
            apply(
                TransformAction::Deduplicate,
                &json!({"items": people, "by": "n"})
            )
            .unwrap()["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert!(
            apply(TransformAction::Sort, &json!({"items": "nope"}))
                .unwrap_err()
                .message
                .contains("inputs.items must be a list")
        );
    }

    #[test]
    fn dates_parse_and_format_in_time_zones() {
        let parsed = apply(TransformAction::ParseDate, &json!({"text": "01/12/2026 09:30", "format": "%d/%m/%Y %H:%M", "timezone": "Europe/Berlin"})).unwrap();
        assert_eq!(parsed["iso"], "2026-12-01T08:30:00+00:00");
        let formatted = apply(TransformAction::FormatDate, &json!({"date": "2026-12-01T08:30:00Z", "format": "%A %H:%M", "timezone": "America/New_York"})).unwrap();
        assert_eq!(formatted, json!({"text": "Tuesday 03:30"}));
        assert!(apply(TransformAction::ParseDate, &json!({"text": "yesterday"})).is_err());
        assert!(
            apply(
                TransformAction::FormatDate,
                &json!({"date": "2026-12-01T08:30:00Z", "format": "%Q"})
            )
            .is_err()
        );
    }
}
