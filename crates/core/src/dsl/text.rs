//! What the document's own texts may hold: ids that can be stored, addressed and deleted, names
//! without characters that hide or reorder what a person reads, and JSON objects without a key
//! given twice (a parser would silently keep one of them).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The longest workflow id.
pub const MAX_ID_CHARS: usize = 100;
/// The longest workflow name.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;

/// What is wrong with a workflow id: 1 to 100 of letters, digits, `_`, `-` and `.`, starting
/// with a letter or a digit (it appears in URLs and file names).
pub fn id_problem(id: &str) -> Option<String> {
    let count = id.chars().count();
    if count == 0 {
        return Some("must not be empty".into());
    }
    if count > MAX_ID_CHARS {
        return Some(format!("has {count} characters; at most {MAX_ID_CHARS}"));
    }
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    (!first_ok || !rest_ok).then(|| {
        format!(
            "{id:?} must start with a letter or digit and hold only letters, digits, _, - and ."
        )
    })
}

/// Characters that change how text reads without being seen: controls, and the bidirectional
/// marks that reorder it (the "Trojan Source" characters).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// What is wrong with a displayed text of at most `most` characters (line breaks and tabs
/// allowed when `multiline`).
pub fn text_problem(text: &str, most: usize, multiline: bool) -> Option<String> {
    let count = text.chars().count();
    if count > most {
        return Some(format!("has {count} characters; at most {most}"));
    }
    text.chars()
        .find(|c| is_hidden(*c) && !(multiline && matches!(c, '\n' | '\t' | '\r')))
        .map(|c| format!("holds the invisible character U+{:04X}", c as u32))
}

/// The JSON path of the first key given twice in one object of `text`, with the key; `None`
/// when there is none (or the text is not JSON, which its parser reports).
pub fn duplicate_key(text: &str) -> Option<(String, String)> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match (Walk { path: "$".into() }).deserialize(&mut deserializer) {
        Err(error) => {
            let message = error.to_string();
            let rest = message.strip_prefix(DUPLICATE)?;
            let (path, key) = rest.split_once('\u{1}')?;
            let key = key.split(" at line ").next().unwrap_or(key);
            Some((path.to_owned(), key.to_owned()))
        }
        Ok(()) => None,
    }
}

const DUPLICATE: &str = "duplicate key\u{1}";

/// Walks a JSON value, failing at the first object that repeats a key.
struct Walk {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut index = 0;
        while items
            .next_element_seed(Walk {
                path: format!("{}[{index}]", self.path),
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut fields: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = fields.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "{DUPLICATE}{}\u{1}{key}",
                    self.path
                )));
            }
            fields.next_value_seed(Walk {
                path: format!("{}.{key}", self.path),
            })?;
        }
        Ok(())
    }
}

/// A plausible e-mail address: one `@`, something before it, a dot inside the domain, no
/// blanks, at most 254 characters. Sign-up, invitations, the settings and workflows' `notify`
/// all hold addresses to this one rule.
pub fn is_mail_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_and_short() {
        assert_eq!(id_problem("wf_email_draft"), None);
        assert_eq!(id_problem("lead-scoring.v2"), None);
        assert!(id_problem("").unwrap().contains("empty"));
        assert!(id_problem("a/b").is_some());
        assert!(id_problem("nul\u{0}").is_some());
        assert!(id_problem("\u{202E}fdp.exe").is_some());
        assert!(
            id_problem(&"x".repeat(10_000))
                .unwrap()
                .contains("10000 characters")
        );
    }

    #[test]
    fn names_hold_no_hidden_characters() {
        assert_eq!(text_problem("Draft replies", 200, false), None);
        assert!(
            text_problem("Pay \u{202E}9.99", 200, false)
                .unwrap()
                .contains("U+202E")
        );
        assert!(text_problem("a\nb", 200, false).is_some());
        assert_eq!(text_problem("a\nb", 200, true), None);
    }

    #[test]
    fn a_key_given_twice_is_found_with_its_path() {
        assert_eq!(duplicate_key(r#"{"a": 1, "b": [1, {"c": 1}]}"#), None);
        assert_eq!(
            duplicate_key(
                r#"{"id": "x", "steps": [{"id": "a"}, {"id": "b", "type": "llm", "type": "delay"}]}"#
            ),
            Some(("$.steps[1]".into(), "type".into()))
        );
        assert_eq!(
            duplicate_key(r#"{"id": "x", "id": "y"}"#),
            Some(("$".into(), "id".into()))
        );
    }
}
