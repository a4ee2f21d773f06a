//! Which provider serves a model, inferred from its name as people write it.

/// The providers Baton speaks to natively.
pub const PROVIDERS: [&str; 4] = ["openai", "anthropic", "google", "cohere"];

/// `gpt-*`, `o1`/`o3`/`o4-*`, `chatgpt-*` → OpenAI; `claude-*` → Anthropic; `gemini-*` → Google;
/// `command-*` → Cohere. `None` when the name says nothing.
pub fn infer_provider(model: &str) -> Option<&'static str> {
    let model = model.trim().to_ascii_lowercase();
    let reasoning = |prefix: &str| model == prefix || model.starts_with(&format!("{prefix}-"));
    if model.starts_with("gpt-")
        || model.starts_with("chatgpt-")
        || ["o1", "o3", "o4"].into_iter().any(reasoning)
    {
        Some("openai")
    } else if model.starts_with("claude-") {
        Some("anthropic")
    } else if model.starts_with("gemini-") {
        Some("google")
    } else if model.starts_with("command-") || model == "command" {
        Some("cohere")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_follow_the_model_names() {
        for (model, provider) in [
            ("gpt-4", Some("openai")),
            ("gpt-4o-mini", Some("openai")),
            ("o3-mini", Some("openai")),
            ("o1", Some("openai")),
            ("claude-sonnet-4-5", Some("anthropic")),
            ("gemini-2.5-flash", Some("google")),
            ("command-r-plus", Some("cohere")),
            ("llama3.1:8b", None),
            ("oracle-7b", None),
        ] {
            assert_eq!(infer_provider(model), provider, "{model}");
        }
    }
}
