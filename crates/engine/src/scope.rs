//! What templates can see: `trigger`, `user`, `execution`, every finished step by id, and the
//! names a loop or a step binds (`item`, `inputs`). Nothing else: no environment, no files.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr, Serde};

/// An immutable view of the values in reach. Adding a value copies only when the scope is
/// shared (a parallel branch, a loop item); otherwise it changes in place.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    values: Arc<BTreeMap<String, Value>>,
}

impl Scope {
    pub fn new(
        trigger: &serde_json::Value,
        user: &serde_json::Value,
        execution: &serde_json::Value,
    ) -> Self {
        let mut values = BTreeMap::new();
        values.insert("trigger".to_owned(), Value::from(Serde(trigger)));
        values.insert("user".to_owned(), Value::from(Serde(user)));
        values.insert("execution".to_owned(), Value::from(Serde(execution)));
        Self {
            values: Arc::new(values),
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        Arc::make_mut(&mut self.values).insert(name.to_owned(), value);
    }

    pub fn set_json(&mut self, name: &str, value: &serde_json::Value) {
        self.set(name, Value::from(Serde(value)));
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// The scope as a template context.
    pub fn context(&self) -> Value {
        Value::from_object(ScopeObject(self.values.clone()))
    }
}

#[derive(Debug)]
struct ScopeObject(Arc<BTreeMap<String, Value>>);

impl Object for ScopeObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_str()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|key| Value::from(key.as_str())).collect())
    }
}
