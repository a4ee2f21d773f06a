//! The `transformation` actions that need no scope: pure functions from rendered inputs to an
//! output. (`calculate` and `filter` evaluate expressions, so the runner does them.)

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

use baton_core::dsl::TransformAction;

use crate::error::StepError;

pub fn apply(action: TransformAction, inputs: &Value) -> Result<Value, StepError> {
    match action {
        TransformAction::ExtractJson => extract_json(text(inputs, "text")?),
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
        TransformAction::Jq | TransformAction::Calculate | TransformAction::Filter => Err(
            StepError::system("jq, calculate and filter are evaluated by the runner"),
        ),
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
    match first_json(text, &['{', '[']) {
        Some(Value::Object(fields)) => Ok(Value::Object(fields)),
        Some(items) => Ok(json!({"items": items})),
        None => {
            // What the text starts with, so the person sees what came instead (often prose).
            let start: String = text.trim().chars().take(120).collect();
            let more = if text.trim().chars().count() > 120 {
                "…"
            } else {
                ""
            };
            Err(StepError::permanent(format!(
                "no JSON object or array found in the text, which begins: {start:?}{more}"
            )))
        }
    }
}

/// The first JSON value in a text that starts with one of `openers` (`{`, `[`).
pub(crate) fn first_json(text: &str, openers: &[char]) -> Option<Value> {
    text.char_indices()
        .filter(|(_, c)| openers.contains(c))
        .find_map(|(start, _)| {
            let mut stream =
                serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(value)) if value.is_object() || value.is_array() => Some(value),
                _ => None,
            }
        })
}

/// A jq step's program and the data it runs over (default: all of `inputs` but `program`).
pub fn jq_inputs(inputs: &Value) -> Result<(&str, Value), StepError> {
    let program = text(inputs, "program")?;
    let data = match inputs.get("data") {
        Some(data) => data.clone(),
        None => {
            let mut rest = inputs.as_object().cloned().unwrap_or_default();
            rest.remove("program");
            Value::Object(rest)
        }
    };
    Ok((program, data))
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
        // The error shows what the text starts with: a model's prose where JSON was wanted.
        assert_eq!(
            extract_json("  Dear Ann, thank you for your order.")
                .unwrap_err()
                .message,
            "no JSON object or array found in the text, which begins: \"Dear Ann, thank you for your order.\""
        );
        let long = "word ".repeat(60);
        let message = extract_json(&long).unwrap_err().message;
        assert!(message.ends_with(" \"…"), "{message}");
        assert!(message.len() < 220, "{message}");
    }

    #[test]
    fn a_jq_step_runs_over_its_data_or_the_rest_of_its_inputs() {
        let inputs = json!({"program": ".a", "data": {"a": 1}, "b": 2});
        let (program, data) = jq_inputs(&inputs).unwrap();
        assert_eq!((program, data), (".a", json!({"a": 1})));
        let inputs = json!({"program": ".count + 1", "count": 41});
        let (_, data) = jq_inputs(&inputs).unwrap();
        assert_eq!(data, json!({"count": 41}));
        assert!(jq_inputs(&json!({"data": 1})).is_err());
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
