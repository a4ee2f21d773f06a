//! Templating through minijinja. Every string of a workflow is compiled once when it is loaded:
//! plain text stays a literal, `{{ expr }}` alone becomes an expression (its value keeps its type:
//! a list stays a list), anything else becomes a text template. A reference to something missing
//! is an error that names the missing path; templates reach nothing outside their scope.

use minijinja::{Environment, UndefinedBehavior, Value as TemplateValue};
use serde_json::Value;

use crate::scope::Scope;
use baton_core::dsl::Problem;

/// Instructions one render may execute: enough for any real template, not for a runaway loop.
const FUEL_PER_RENDER: u64 = 200_000;

/// A value of the workflow document, compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum CompiledValue {
    Literal(Value),
    /// A text template, registered in [`Templates`] under `name`.
    Template {
        name: String,
        refs: Vec<String>,
    },
    Expression(CompiledExpression),
    Array(Vec<CompiledValue>),
    Object(Vec<(String, CompiledValue)>),
}

/// An expression, e.g. `step_1.score > 80`, with the paths it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledExpression {
    pub source: String,
    pub refs: Vec<String>,
}

impl CompiledValue {
    /// Every path the value's templates read, e.g. `step_1.body`.
    pub fn refs(&self) -> Vec<&str> {
        let mut refs = Vec::new();
        self.collect_refs(&mut refs);
        refs
    }

    fn collect_refs<'a>(&'a self, refs: &mut Vec<&'a str>) {
        match self {
            Self::Literal(_) => {}
            Self::Template { refs: own, .. }
            | Self::Expression(CompiledExpression { refs: own, .. }) => {
                refs.extend(own.iter().map(String::as_str));
            }
            Self::Array(items) => items.iter().for_each(|item| item.collect_refs(refs)),
            Self::Object(fields) => fields
                .iter()
                .for_each(|(_, field)| field.collect_refs(refs)),
        }
    }
}

/// A template failed to render.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// The templates of one workflow, and the sandboxed environment that runs them.
pub struct Templates {
    environment: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Templates")
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_fuel(Some(FUEL_PER_RENDER));
        environment.set_recursion_limit(64);
        Self { environment }
    }

    /// Compiles every string inside a JSON value.
    pub fn compile_value(
        &mut self,
        value: &Value,
        path: &str,
        problems: &mut Vec<Problem>,
    ) -> CompiledValue {
        match value {
            Value::String(text) => self.compile_text(text, path, problems),
            Value::Array(items) => CompiledValue::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        self.compile_value(item, &format!("{path}[{index}]"), problems)
                    })
                    .collect(),
            ),
            Value::Object(fields) => CompiledValue::Object(
                fields
                    .iter()
                    .map(|(key, field)| {
                        (
                            key.clone(),
                            self.compile_value(field, &format!("{path}.{key}"), problems),
                        )
                    })
                    .collect(),
            ),
            other => CompiledValue::Literal(other.clone()),
        }
    }

    /// Compiles one string: a literal, a lone expression, or a text template.
    pub fn compile_text(
        &mut self,
        text: &str,
        path: &str,
        problems: &mut Vec<Problem>,
    ) -> CompiledValue {
        if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
            return CompiledValue::Literal(Value::String(text.to_owned()));
        }
        if let Some(inner) = lone_expression(text) {
            return match self.compile_expression(inner, path) {
                Ok(expression) => CompiledValue::Expression(expression),
                Err(problem) => {
                    problems.push(problem);
                    CompiledValue::Literal(Value::Null)
                }
            };
        }
        let name = path.to_owned();
        if let Err(error) = self
            .environment
            .add_template_owned(name.clone(), text.to_owned())
        {
            problems.push(Problem::new(path, syntax_message(&error)));
            return CompiledValue::Literal(Value::Null);
        }
        let refs = match self.environment.get_template(&name) {
            Ok(template) => self.own_refs(template.undeclared_variables(true)),
            Err(error) => {
                problems.push(Problem::new(path, syntax_message(&error)));
                Vec::new()
            }
        };
        CompiledValue::Template { name, refs }
    }

    /// Compiles an expression, given bare (`a > 1`) or wrapped (`{{ a > 1 }}`).
    pub fn compile_expression(
        &self,
        text: &str,
        path: &str,
    ) -> Result<CompiledExpression, Problem> {
        let source = lone_expression(text).unwrap_or(text).trim();
        if source.is_empty() {
            return Err(Problem::new(path, "empty expression"));
        }
        let expression = self
            .environment
            .compile_expression(source)
            .map_err(|error| Problem::new(path, syntax_message(&error)))?;
        Ok(CompiledExpression {
            source: source.to_owned(),
            refs: self.own_refs(expression.undeclared_variables(true)),
        })
    }

    /// The referenced paths that name workflow values, not the environment's own functions
    /// (`range`, `dict`, ...), sorted.
    fn own_refs(&self, refs: std::collections::HashSet<String>) -> Vec<String> {
        let mut own: Vec<String> = refs
            .into_iter()
            .filter(|path| {
                let root = path.split('.').next().unwrap_or(path);
                !self.environment.globals().any(|(name, _)| name == root)
            })
            .collect();
        own.sort();
        own
    }

    /// Renders a compiled value into JSON.
    pub(crate) fn render(
        &self,
        value: &CompiledValue,
        scope: &Scope,
    ) -> Result<Value, TemplateError> {
        match value {
            CompiledValue::Literal(literal) => Ok(literal.clone()),
            CompiledValue::Template { name, refs } => {
                let template = self
                    .environment
                    .get_template(name)
                    .map_err(|error| TemplateError(error.to_string()))?;
                template
                    .render(scope.context())
                    .map(Value::String)
                    .map_err(|error| explain(&error, refs, scope))
            }
            CompiledValue::Expression(expression) => self
                .evaluate(expression, scope)
                .and_then(|value| to_json(&value)),
            CompiledValue::Array(items) => items
                .iter()
                .map(|item| self.render(item, scope))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            CompiledValue::Object(fields) => fields
                .iter()
                .map(|(key, field)| Ok((key.clone(), self.render(field, scope)?)))
                .collect::<Result<serde_json::Map<_, _>, _>>()
                .map(Value::Object),
        }
    }

    /// Evaluates an expression to a template value.
    pub(crate) fn evaluate(
        &self,
        expression: &CompiledExpression,
        scope: &Scope,
    ) -> Result<TemplateValue, TemplateError> {
        let compiled = self
            .environment
            .compile_expression(&expression.source)
            .map_err(|error| TemplateError(syntax_message(&error)))?;
        let value = compiled
            .eval(scope.context())
            .map_err(|error| explain(&error, &expression.refs, scope))?;
        if value.is_undefined() {
            return Err(missing(&expression.refs, scope).unwrap_or_else(|| {
                TemplateError(format!("`{}` refers to nothing", expression.source))
            }));
        }
        Ok(value)
    }

    /// Evaluates an expression and reads it as true or false.
    pub(crate) fn truth(
        &self,
        expression: &CompiledExpression,
        scope: &Scope,
    ) -> Result<bool, TemplateError> {
        self.evaluate(expression, scope)
            .map(|value| value.is_true())
    }
}

/// `{{ expr }}` with nothing around it, and no second `{{` inside.
fn lone_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

fn syntax_message(error: &minijinja::Error) -> String {
    let detail = error
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| error.kind().to_string());
    match error.line() {
        Some(line) => format!("template syntax error at line {line}: {detail}"),
        None => format!("template syntax error: {detail}"),
    }
}

pub(crate) fn to_json(value: &TemplateValue) -> Result<Value, TemplateError> {
    serde_json::to_value(value)
        .map_err(|error| TemplateError(format!("the value cannot be written as JSON: {error}")))
}

/// Turns a render failure into a message naming what is missing, when something is.
fn explain(error: &minijinja::Error, refs: &[String], scope: &Scope) -> TemplateError {
    // A failure while a referenced value is missing (an undefined value, or arithmetic on one)
    // is explained by what is missing.
    if let Some(missing) = missing(refs, scope) {
        return missing;
    }
    if error.kind() == minijinja::ErrorKind::OutOfFuel {
        return TemplateError(
            "limit reached: the template did too much work or built too much data (it is \
             limited so a runaway loop cannot stall a run)"
                .into(),
        );
    }
    let detail = error
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| error.kind().to_string());
    if detail.contains("recursion limit") {
        return TemplateError("limit reached: the template recursed too deep".into());
    }
    TemplateError(format!("template error: {detail}"))
}

/// The first referenced path that resolves to nothing, described.
fn missing(refs: &[String], scope: &Scope) -> Option<TemplateError> {
    for path in refs {
        let mut segments = path.split('.');
        let root = segments.next()?;
        let Some(mut value) = scope.get(root).cloned() else {
            return Some(TemplateError(format!(
                "`{{{{{path}}}}}` is missing: nothing named {root:?} has run or been given"
            )));
        };
        let mut walked = root.to_owned();
        for segment in segments {
            let next = value
                .get_attr(segment)
                .ok()
                .filter(|next| !next.is_undefined());
            match next {
                Some(next) => value = next,
                None => {
                    return Some(TemplateError(format!(
                        "`{{{{{path}}}}}` is missing: {walked} has no field {segment:?}"
                    )));
                }
            }
            walked.push('.');
            walked.push_str(segment);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        let mut scope = Scope::new(
            &json!({"email_id": "m-1", "rows": [1, 2, 3]}),
            &json!({"company": "Acme"}),
            &json!({}),
        );
        scope.set_json(
            "step_1",
            &json!({"body": "Hello", "from": "ann@example.com", "score": 91}),
        );
        scope
    }

    fn render(text: &str) -> Result<Value, TemplateError> {
        let mut templates = Templates::new();
        let mut problems = Vec::new();
        let compiled = templates.compile_value(&json!(text), "$.x", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        templates.render(&compiled, &scope())
    }

    #[test]
    fn plain_text_stays_a_literal() {
        let mut templates = Templates::new();
        let compiled =
            templates.compile_value(&json!({"a": "plain", "b": 3}), "$", &mut Vec::new());
        assert_eq!(
            compiled,
            CompiledValue::Object(vec![
                ("a".into(), CompiledValue::Literal(json!("plain"))),
                ("b".into(), CompiledValue::Literal(json!(3)))
            ])
        );
    }

    #[test]
    fn templates_render_with_the_scope() {
        assert_eq!(
            render("Re: {{ step_1.from }} for {{user.company}}").unwrap(),
            json!("Re: ann@example.com for Acme")
        );
        assert_eq!(
            render("{{ trigger.rows }}").unwrap(),
            json!([1, 2, 3]),
            "a lone expression keeps its type"
        );
        assert_eq!(render("{{ step_1.score > 80 }}").unwrap(), json!(true));
        assert_eq!(
            render("{% for r in trigger.rows %}{{ r }};{% endfor %}").unwrap(),
            json!("1;2;3;")
        );
    }

    #[test]
    fn a_missing_reference_names_the_missing_path() {
        assert_eq!(
            render("Body: {{ step_1.bdy }}").unwrap_err().0,
            "`{{step_1.bdy}}` is missing: step_1 has no field \"bdy\""
        );
        assert_eq!(
            render("{{ step_9.body }}").unwrap_err().0,
            "`{{step_9.body}}` is missing: nothing named \"step_9\" has run or been given"
        );
        assert_eq!(
            render("{{ trigger.email }}").unwrap_err().0,
            "`{{trigger.email}}` is missing: trigger has no field \"email\""
        );
    }

    #[test]
    fn syntax_errors_give_their_line() {
        let mut templates = Templates::new();
        let mut problems = Vec::new();
        templates.compile_value(
            &json!("line one\n{{ step_1.body "),
            "$.steps[0].prompt",
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "$.steps[0].prompt");
        assert!(
            problems[0]
                .message
                .starts_with("template syntax error at line 2"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn templates_cannot_reach_the_host_or_run_forever() {
        for source in [
            "{{ env }}",
            "{{ include('/etc/passwd') }}",
            "{% include '/etc/passwd' %}",
        ] {
            assert!(render(source).is_err(), "{source} rendered");
        }
        let error = render(
            "{% for a in range(10000) %}{% for b in range(10000) %}{{ a }}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert!(error.0.contains("limit reached"), "{}", error.0);
    }

    /// Bytes the current thread holds and the most it held since [`Measured::reset`].
    struct Measured;

    thread_local! {
        static HELD: std::cell::Cell<(isize, isize)> = const { std::cell::Cell::new((0, 0)) };
    }

    impl Measured {
        fn reset() {
            let _ = HELD.try_with(|held| held.set((held.get().0, held.get().0)));
        }

        fn peak_above_start(start: isize) -> isize {
            HELD.try_with(|held| held.get().1 - start).unwrap_or(0)
        }

        fn now() -> isize {
            HELD.try_with(|held| held.get().0).unwrap_or(0)
        }

        fn add(delta: isize) {
            let _ = HELD.try_with(|held| {
                let (now, peak) = held.get();
                held.set((now + delta, peak.max(now + delta)));
            });
        }
    }

    // SAFETY: every call goes to the system allocator unchanged; the counting touches only a
    // thread-local pair of integers and never allocates.
    unsafe impl std::alloc::GlobalAlloc for Measured {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            Measured::add(layout.size() as isize);
            // SAFETY: the caller's contract is passed on.
            unsafe { std::alloc::System.alloc(layout) }
        }

        unsafe fn dealloc(&self, pointer: *mut u8, layout: std::alloc::Layout) {
            Measured::add(-(layout.size() as isize));
            // SAFETY: the caller's contract is passed on.
            unsafe { std::alloc::System.dealloc(pointer, layout) }
        }

        unsafe fn realloc(
            &self,
            pointer: *mut u8,
            layout: std::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            Measured::add(new_size as isize - layout.size() as isize);
            // SAFETY: the caller's contract is passed on.
            unsafe { std::alloc::System.realloc(pointer, layout, new_size) }
        }
    }

    #[global_allocator]
    static MEASURED: Measured = Measured;

    /// Templates that build big strings or lists, directly, by doubling, or through lazy lists
    /// that a filter or a deep concatenation would materialize: each is stopped by the render's
    /// budget, before it holds more than a few MiB or runs for long.
    #[test]
    fn a_template_cannot_build_unbounded_data() {
        for source in [
            r#"{% for i in range(1000) %}{{ "x" * 100000000 }}{% endfor %}"#,
            r#"{% set ns = namespace(s="xxxxxxxxxxxxxxxx") %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"#,
            r#"{% macro f(s, n) %}{{ f(s ~ s, n - 1) if n else s|length }}{% endmacro %}{{ f("xxxxxxxxxxxxxxxx", 60) }}"#,
            r#"{% set ns = namespace(l=[1]) %}{% for i in range(100000) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}"#,
            r#"{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.l|length }}"#,
            r#"{{ ([1] * 1000000000000 + [2])|length }}"#,
            r#"{{ ([1, 2] * 100000000)|sort|first }}"#,
            r#"{{ ([1, 2] * 100000000)|join(",")|length }}"#,
            r#"{{ ([[1] * 100000] * 100000)|map("length")|sum }}"#,
            r#"{{ ("x" * 1000000)|replace("x", "yyyyyyyyyy")|length }}"#,
            r#"{{ ("ab" * 1000000)|replace("", "yyyyyyyyyyyyyyy")|length }}"#,
            r#"{{ "x"|indent(100000000, true)|length }}"#,
            r#"{{ "%100000000d"|format(1)|length }}"#,
            r#"{{ (range(100000)|list * 1000)|tojson|length }}"#,
        ] {
            let start = Measured::now();
            Measured::reset();
            let started = std::time::Instant::now();
            let error = render(source).unwrap_err();
            let peak = Measured::peak_above_start(start);
            assert!(error.0.contains("limit reached"), "{source}: {}", error.0);
            assert!(peak < 48 << 20, "{source} held {} MiB", peak >> 20);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{source} ran {:?}",
                started.elapsed()
            );
        }
        assert_eq!(
            render(r#"{{ ([1, 2] * 3 + [4])|join(",") }}"#).unwrap(),
            json!("1,2,1,2,1,2,4"),
            "small lists still repeat and concatenate"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        /// Any text compiles to a value or a problem, and renders to a value or an error.
        #[test]
        fn any_text_compiles_and_renders_without_panicking(text in r#"[a-z {}%#|()'"0-9_.+*/<>=!~\[\],:-]{0,60}"#) {
            let mut templates = Templates::new();
            let mut problems = Vec::new();
            let compiled = templates.compile_text(&text, "$.x", &mut problems);
            let _ = templates.render(&compiled, &scope());
        }
    }

    #[test]
    fn refs_are_collected_for_validation() {
        let mut templates = Templates::new();
        let compiled = templates.compile_value(
            &json!({"to": "{{step_1.from}}", "s": "Re: {{ step_1.subject }} {{ trigger.id }}"}),
            "$",
            &mut Vec::new(),
        );
        let mut refs = compiled.refs();
        refs.sort();
        assert_eq!(refs, vec!["step_1.from", "step_1.subject", "trigger.id"]);
    }
}
