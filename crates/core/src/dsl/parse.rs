//! Parsing a workflow document into typed steps, collecting every problem with its JSON path
//! (`$.steps[1].id: duplicate step id "step_1"`) instead of stopping at the first.

use std::collections::HashSet;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::kinds::*;
use super::{OnError, Step, StepCommon, WorkflowDefinition, WorkflowHeader};

/// One thing wrong with a document, at a JSON path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.path, self.message)
    }
}

/// Names a step id may not take: they are the template context's own roots.
pub const RESERVED_IDS: [&str; 6] = ["trigger", "user", "item", "inputs", "loop", "execution"];

/// Parses a document; every problem found is returned, in document order.
pub fn parse_workflow(document: &Value) -> Result<WorkflowDefinition, Vec<Problem>> {
    let mut parser = Parser::default();
    let Some(object) = document.as_object() else {
        return Err(vec![Problem::new("$", "a workflow must be a JSON object")]);
    };
    let mut header_fields = object.clone();
    let steps_value = header_fields.remove("steps");
    let header = parser.typed::<WorkflowHeader>(Value::Object(header_fields), "$");
    let steps = match steps_value {
        Some(steps) => parser.steps(&steps, "$.steps"),
        None => {
            parser.problem("$", "missing field `steps`");
            Vec::new()
        }
    };
    if let Some(header) = &header {
        parser.header_texts(header);
    }
    match (header, parser.problems.is_empty()) {
        (Some(header), true) => Ok(WorkflowDefinition { header, steps }),
        _ => Err(parser.problems),
    }
}

#[derive(Default)]
struct Parser {
    problems: Vec<Problem>,
    ids: HashSet<String>,
}

impl Parser {
    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// The id, name, version and description: storable and readable as they are.
    fn header_texts(&mut self, header: &WorkflowHeader) {
        use super::text::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, id_problem, text_problem};
        if let Some(problem) = id_problem(&header.id) {
            self.problem("$.id", problem);
        }
        if header.name.trim().is_empty() {
            self.problem("$.name", "must not be empty");
        } else if let Some(problem) = text_problem(&header.name, MAX_NAME_CHARS, false) {
            self.problem("$.name", problem);
        }
        if let Some(description) = &header.description
            && let Some(problem) = text_problem(description, MAX_DESCRIPTION_CHARS, true)
        {
            self.problem("$.description", problem);
        }
        if let Some(notify) = &header.notify {
            self.notify(notify);
        }
        if let Some(super::VersionLabel::Text(version)) = &header.version
            && !is_version_label(version)
        {
            self.problem(
                "$.version",
                format!("{version:?} is not a version such as \"1\", \"1.2\" or \"1.2.3-beta\""),
            );
        }
    }

    /// Addresses that can be mailed, a channel Slack can name, and not too many of either.
    fn notify(&mut self, notify: &super::Notify) {
        const MOST: usize = 20;
        if notify.emails.len() > MOST {
            self.problem(
                "$.notify.emails",
                format!("at most {MOST} addresses ({} given)", notify.emails.len()),
            );
        }
        for (index, address) in notify.emails.iter().enumerate() {
            if !super::text::is_mail_address(address) {
                self.problem(
                    &format!("$.notify.emails[{index}]"),
                    format!("{address:?} is not an e-mail address such as ops@example.com"),
                );
            }
        }
        if let Some(channel) = &notify.slack_channel {
            let name = channel.strip_prefix('#').unwrap_or(channel);
            if name.is_empty()
                || name.len() > 80
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                self.problem(
                    "$.notify.slack_channel",
                    format!("{channel:?} is not a Slack channel such as #ops or C0123456789"),
                );
            }
        }
        if notify.slack_credential.is_some() && notify.slack_channel.is_none() {
            self.problem(
                "$.notify.slack_credential",
                "names a Slack connection but no slack_channel to post in",
            );
        }
    }

    /// Deserializes `value` as `T`, reporting a failure at the path inside it.
    fn typed<T: DeserializeOwned>(&mut self, value: Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(typed) => Some(typed),
            Err(error) => {
                let inner = error.path().to_string();
                let at = if inner == "." || inner.is_empty() {
                    path.to_owned()
                } else {
                    join(path, &inner)
                };
                self.problem(&at, error.inner().to_string());
                None
            }
        }
    }

    fn steps(&mut self, value: &Value, path: &str) -> Vec<Step> {
        let Some(items) = value.as_array() else {
            self.problem(path, "expected a list of steps");
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| self.step(item, &format!("{path}[{index}]")))
            .collect()
    }

    fn step(&mut self, value: &Value, path: &str) -> Option<Step> {
        let Some(object) = value.as_object() else {
            self.problem(path, "a step must be a JSON object");
            return None;
        };
        let id = self.step_id(object, path);
        let kind_name = match object.get("type") {
            None => {
                self.problem(path, "missing field `type`");
                None
            }
            Some(Value::String(kind)) if StepKind::TYPES.contains(&kind.as_str()) => {
                Some(kind.as_str())
            }
            Some(Value::String(kind)) => {
                self.problem(
                    &format!("{path}.type"),
                    format!(
                        "unknown step type {kind:?} (expected one of {})",
                        StepKind::TYPES.join(", ")
                    ),
                );
                None
            }
            Some(_) => {
                self.problem(&format!("{path}.type"), "expected a string");
                None
            }
        };
        let mut common_fields = Map::new();
        let mut kind_fields = Map::new();
        let mut nested = Map::new();
        let nested_names = kind_name.map(StepKind::nested_fields).unwrap_or(&[]);
        for (key, field) in object {
            match key.as_str() {
                "id" | "type" | "on_error" => {}
                "name" | "retry" | "timeout" => {
                    common_fields.insert(key.clone(), field.clone());
                }
                name if nested_names.contains(&name) => {
                    nested.insert(key.clone(), field.clone());
                }
                _ => {
                    kind_fields.insert(key.clone(), field.clone());
                }
            }
        }
        let common = self.typed::<StepCommon>(Value::Object(common_fields), path);
        let on_error = self.on_error(object.get("on_error"), path);
        let kind = kind_name.and_then(|kind| self.kind(kind, kind_fields, &nested, path));
        Some(Step {
            id: id?,
            common: common?,
            on_error: on_error?,
            kind: kind?,
        })
    }

    fn step_id(&mut self, object: &Map<String, Value>, path: &str) -> Option<String> {
        let at = format!("{path}.id");
        match object.get("id") {
            None => {
                self.problem(path, "missing field `id`");
                None
            }
            Some(Value::String(id)) => {
                if !is_identifier(id) {
                    self.problem(&at, format!("step id {id:?} must start with a letter or _ and hold only letters, digits and _"));
                    None
                } else if RESERVED_IDS.contains(&id.as_str()) {
                    self.problem(
                        &at,
                        format!("step id {id:?} is reserved (it names a template value)"),
                    );
                    None
                } else if !self.ids.insert(id.clone()) {
                    self.problem(&at, format!("duplicate step id {id:?}"));
                    None
                } else {
                    Some(id.clone())
                }
            }
            Some(_) => {
                self.problem(&at, "expected a string");
                None
            }
        }
    }

    fn on_error(&mut self, value: Option<&Value>, path: &str) -> Option<OnError> {
        let at = format!("{path}.on_error");
        match value {
            None => Some(OnError::Fail),
            Some(Value::String(action)) if action == "fail" => Some(OnError::Fail),
            Some(Value::String(action)) if action == "continue" => Some(OnError::Continue),
            Some(Value::Object(object)) if object.len() == 1 && object.contains_key("fallback") => {
                let before = self.problems.len();
                let steps = self.steps(&object["fallback"], &format!("{at}.fallback"));
                (self.problems.len() == before).then_some(OnError::Fallback(steps))
            }
            Some(_) => {
                self.problem(
                    &at,
                    "expected \"fail\", \"continue\" or {\"fallback\": [steps]}",
                );
                None
            }
        }
    }

    fn kind(
        &mut self,
        kind: &str,
        fields: Map<String, Value>,
        nested: &Map<String, Value>,
        path: &str,
    ) -> Option<StepKind> {
        let fields = Value::Object(fields);
        let before = self.problems.len();
        let parsed = match kind {
            "llm" => self.typed(fields, path).map(StepKind::Llm),
            "integration" => self.typed(fields, path).map(StepKind::Integration),
            "transformation" => self.typed(fields, path).map(StepKind::Transformation),
            "approval" => self.typed(fields, path).map(StepKind::Approval),
            "delay" => {
                let delay: Option<DelayStep> = self.typed(fields, path);
                if let Some(delay) = &delay
                    && delay.duration.is_some() == delay.until.is_some()
                {
                    self.problem(path, "a delay needs exactly one of `duration` and `until`");
                }
                delay.map(StepKind::Delay)
            }
            "sub_workflow" => self.typed(fields, path).map(StepKind::SubWorkflow),
            "agent" => self.typed(fields, path).map(StepKind::Agent),
            "conditional" => {
                let spec = self.typed::<ConditionalStep>(fields, path);
                let then = self.required_steps(nested, "then", path);
                let otherwise = nested
                    .get("else")
                    .map(|steps| self.steps(steps, &format!("{path}.else")))
                    .unwrap_or_default();
                spec.map(|spec| StepKind::Conditional {
                    spec,
                    then,
                    otherwise,
                })
            }
            "loop" => {
                let spec = self.typed::<LoopStep>(fields, path);
                if let Some(name) = spec.as_ref().and_then(|spec| spec.item_name.as_deref())
                    && !is_identifier(name)
                {
                    self.problem(&format!("{path}.as"), format!("{name:?} must start with a letter or _ and hold only letters, digits and _"));
                }
                let steps = self.required_steps(nested, "steps", path);
                spec.map(|spec| StepKind::Loop { spec, steps })
            }
            "parallel" => {
                let spec = self.typed::<ParallelStep>(fields, path);
                let branches = match nested.get("branches") {
                    Some(Value::Array(branches)) if !branches.is_empty() => branches
                        .iter()
                        .enumerate()
                        .map(|(index, branch)| {
                            self.steps(branch, &format!("{path}.branches[{index}]"))
                        })
                        .collect(),
                    Some(Value::Array(_)) => {
                        self.problem(&format!("{path}.branches"), "needs at least one branch");
                        Vec::new()
                    }
                    Some(_) => {
                        self.problem(&format!("{path}.branches"), "expected a list of step lists");
                        Vec::new()
                    }
                    None => {
                        self.problem(path, "missing field `branches`");
                        Vec::new()
                    }
                };
                spec.map(|spec| StepKind::Parallel { spec, branches })
            }
            _ => unreachable!("kind names are checked against StepKind::TYPES"),
        };
        if self.problems.len() == before {
            parsed
        } else {
            None
        }
    }

    fn required_steps(
        &mut self,
        nested: &Map<String, Value>,
        field: &str,
        path: &str,
    ) -> Vec<Step> {
        match nested.get(field) {
            Some(steps) => self.steps(steps, &format!("{path}.{field}")),
            None => {
                self.problem(path, format!("missing field `{field}`"));
                Vec::new()
            }
        }
    }
}

fn join(path: &str, inner: &str) -> String {
    if inner.starts_with('[') {
        format!("{path}{inner}")
    } else {
        format!("{path}.{inner}")
    }
}

/// A version label: numbers separated by dots (at most three), then optionally `-` or `+` and
/// letters, digits, `.` or `-`; at most 32 characters.
fn is_version_label(text: &str) -> bool {
    let (numbers, suffix) = match text.find(['-', '+']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    text.len() <= 32
        && (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        && suffix.is_none_or(|suffix| {
            !suffix.is_empty()
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        })
}

/// Letters, digits and `_`, not starting with a digit: a name templates can address.
pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn seed_example() -> Value {
        json!({
          "id": "wf_email_draft",
          "name": "Draft Email Response",
          "version": "1.0",
          "steps": [
            {"id": "step_1", "type": "integration", "service": "gmail", "action": "read_email",
             "inputs": {"email_id": "{{trigger.email_id}}"}},
            {"id": "step_2", "type": "llm", "model": "gpt-4",
             "prompt": "Draft a response to this email:\n\n{{step_1.body}}",
             "inputs": {"context": {"company": "{{user.company}}"}}},
            {"id": "step_3", "type": "transformation", "action": "extract_json",
             "inputs": {"text": "{{step_2.response}}"}},
            {"id": "step_4", "type": "integration", "service": "gmail", "action": "save_draft",
             "inputs": {"to": "{{step_1.from}}", "subject": "Re: {{step_1.subject}}", "body": "{{step_3.draft}}"}}
          ]
        })
    }

    fn problems(document: Value) -> Vec<String> {
        parse_workflow(&document)
            .unwrap_err()
            .into_iter()
            .map(|problem| problem.to_string())
            .collect()
    }

    #[test]
    fn the_seed_example_parses_as_written() {
        let workflow = parse_workflow(&seed_example()).unwrap();
        assert_eq!(workflow.header.id, "wf_email_draft");
        let types: Vec<&str> = workflow
            .steps
            .iter()
            .map(|step| step.kind.type_name())
            .collect();
        assert_eq!(
            types,
            ["integration", "llm", "transformation", "integration"]
        );
        match &workflow.steps[1].kind {
            StepKind::Llm(llm) => assert_eq!(llm.model, "gpt-4"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn notices_name_real_addresses_and_channels() {
        let mut document = seed_example();
        document["notify"] = json!({"when": "hourly", "emails": ["ops@acme.example"],
            "slack_channel": "#ops-alerts", "slack_credential": "main"});
        let workflow = parse_workflow(&document).unwrap();
        let notify = workflow.header.notify.unwrap();
        assert_eq!(notify.when, Some(super::super::NotifyWhen::Hourly));
        assert_eq!(notify.emails, ["ops@acme.example"]);

        document["notify"] = json!({"when": "sometimes", "emails": []});
        let found = problems(document.clone());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("$.notify.when: unknown variant `sometimes`"),
            "{found:?}"
        );
        document["notify"] = json!({"emails": ["ops@acme.example", "not an address", "x@y"],
            "slack_channel": "# bad channel"});
        assert_eq!(
            problems(document.clone()),
            [
                "$.notify.emails[1]: \"not an address\" is not an e-mail address such as ops@example.com",
                "$.notify.emails[2]: \"x@y\" is not an e-mail address such as ops@example.com",
                "$.notify.slack_channel: \"# bad channel\" is not a Slack channel such as #ops or C0123456789",
            ]
        );
        document["notify"] = json!({"slack_credential": "main"});
        assert_eq!(
            problems(document),
            ["$.notify.slack_credential: names a Slack connection but no slack_channel to post in"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let found = problems(json!({
            "id": "wf", "name": "x", "colour": "red",
            "steps": [
                {"id": "step_1", "type": "llm", "model": "gpt-4o", "promt": "hi"},
                {"id": "step_1", "type": "delay", "duration": "5s"},
                {"id": "step_3", "type": "teleport"},
                {"type": "delay", "duration": "1s"},
                {"id": "step_5", "type": "delay", "duration": "5 weeks"},
                {"id": "step_6", "type": "conditional", "condition": "true", "then": [
                    {"id": "inner", "type": "llm", "prompt": "x"}
                ]},
                {"id": "step_7", "type": "delay", "duration": "1s", "retry": {"max_retries": "many"}},
                {"id": "trigger", "type": "delay", "duration": "1s"},
                {"id": "step_9", "type": "delay", "duration": "1s", "on_error": "ignore"}
            ]
        }));
        let expected = [
            "$.colour: unknown field `colour`",
            "$.steps[0].promt: unknown field `promt`",
            "$.steps[1].id: duplicate step id \"step_1\"",
            "$.steps[2].type: unknown step type \"teleport\" (expected one of llm, integration, transformation, conditional, loop, parallel, approval, delay, sub_workflow, agent)",
            "$.steps[3]: missing field `id`",
            "$.steps[4].duration: invalid duration \"5 weeks\"",
            "$.steps[5].then[0]: missing field `model`",
            "$.steps[6].retry.max_retries: invalid type: string \"many\"",
            "$.steps[7].id: step id \"trigger\" is reserved",
            "$.steps[8].on_error: expected \"fail\", \"continue\" or {\"fallback\": [steps]}",
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for (found, expected) in found.iter().zip(expected) {
            assert!(
                found.starts_with(expected),
                "{found:?} should start with {expected:?}"
            );
        }
    }

    #[test]
    fn the_header_texts_are_checked_at_their_paths() {
        let found = problems(json!({
            "id": "", "name": "Pay \u{202E}9.99", "version": "v one",
            "steps": [{"id": "a", "type": "delay", "duration": "1s"}]
        }));
        assert_eq!(
            found,
            [
                "$.id: must not be empty",
                "$.name: holds the invisible character U+202E",
                "$.version: \"v one\" is not a version such as \"1\", \"1.2\" or \"1.2.3-beta\""
            ]
        );
        let fine = json!({"id": "wf.1", "name": "Fine", "version": "1.2.3-beta",
            "steps": [{"id": "a", "type": "delay", "duration": "1s"}]});
        assert!(parse_workflow(&fine).is_ok());
        let long = json!({"id": "x".repeat(10_000), "name": "n".repeat(10_000),
            "steps": [{"id": "a", "type": "delay", "duration": "1s"}]});
        assert_eq!(problems(long).len(), 2);
    }

    #[test]
    fn nested_lists_are_parsed_with_their_own_paths() {
        let workflow = parse_workflow(&json!({
            "id": "wf", "name": "x",
            "steps": [
                {"id": "each", "type": "loop", "items": "{{trigger.rows}}", "as": "row", "steps": [
                    {"id": "send", "type": "integration", "service": "slack", "action": "post_message",
                     "on_error": {"fallback": [{"id": "note", "type": "transformation", "action": "set", "inputs": {"ok": false}}]}}
                ]},
                {"id": "both", "type": "parallel", "branches": [
                    [{"id": "left", "type": "delay", "duration": "1s"}],
                    [{"id": "right", "type": "delay", "until": "2030-01-01T00:00:00Z"}]
                ]}
            ]
        }))
        .unwrap();
        match &workflow.steps[0].kind {
            StepKind::Loop { spec, steps } => {
                assert_eq!(spec.item_name.as_deref(), Some("row"));
                assert!(
                    matches!(&steps[0].on_error, OnError::Fallback(fallback) if fallback[0].id == "note")
                );
            }
            other => panic!("{other:?}"),
        }
        let found = problems(json!({"id": "wf", "name": "x", "steps": [
            {"id": "both", "type": "parallel", "branches": [[{"id": "left", "type": "delay"}]]}
        ]}));
        assert_eq!(
            found,
            vec!["$.steps[0].branches[0][0]: a delay needs exactly one of `duration` and `until`"]
        );
    }

    #[test]
    fn a_document_that_is_not_an_object_or_lacks_steps_says_so() {
        assert_eq!(
            problems(json!([1, 2])),
            vec!["$: a workflow must be a JSON object"]
        );
        assert_eq!(
            problems(json!({"id": "wf", "name": "x"})),
            vec!["$: missing field `steps`"]
        );
        assert_eq!(
            problems(json!({"id": "wf", "name": "x", "steps": {}})),
            vec!["$.steps: expected a list of steps"]
        );
    }
}
