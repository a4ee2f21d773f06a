//! The template library through the API: every template in `templates/` is checked and made
//! into a workflow with its example configuration; listing filters, what is missing for an
//! organization, configuration errors by path, popularity and ratings.

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use baton_server::templates::{Template, library};
use common::harness;
use common::{App, TestStore, send, sign_up};
use serde_json::{Value, json};

conformance!(
    every_template_becomes_a_workflow_with_its_example_configuration,
    what_is_missing_is_named_before_anything_is_made,
    a_configuration_that_does_not_fit_is_refused_by_path,
    the_gallery_filters_and_counts_uses_and_ratings,
    an_organization_shares_its_own_workflow_as_a_template,
);

/// A connection each kind of service accepts at save (none is called here).
fn secret_for(service: &str) -> Value {
    match service {
        "email" => json!({
            "email": "ann@acme.test", "password": "p",
            "imap_host": "imap.acme.test", "smtp_host": "smtp.acme.test",
        }),
        "slack" => json!({"bot_token": "xoxb-test"}),
        _ => json!({"api_key": "sk_test_key", "access_token": "test-token"}),
    }
}

async fn connect(app: &App, session: &[String; 2], service: &str) {
    let service = if service == "ai" { "openai" } else { service };
    let created = send(
        app,
        "POST",
        "/api/v1/credentials",
        Some(json!({"service": service, "name": format!("{service} main"), "secret": secret_for(service)})),
        &[&session[0]],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[test]
fn every_template_file_is_a_template_named_after_its_file() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let mut files = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let template: Template = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("{}.json", template.id)
        );
        files += 1;
    }
    assert_eq!(library().len(), files, "every file is in the binary");
    // Six or more in each of the five categories.
    let mut per_category: BTreeMap<String, usize> = BTreeMap::new();
    for template in library().values() {
        let category = serde_json::to_value(template.category).unwrap();
        *per_category
            .entry(category.as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_category.len(), 5, "{per_category:?}");
    assert!(
        per_category.values().all(|count| *count >= 6),
        "{per_category:?}"
    );
    for template in library().values() {
        let id = &template.id;
        assert!(
            id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{id}"
        );
        assert!(!template.steps_in_words.is_empty(), "{id}");
        assert!(!template.examples.is_empty(), "{id}");
        assert!(template.description.ends_with('.'), "{id}: one sentence");
        let schema = &template.configuration_schema;
        let validator = jsonschema::validator_for(schema)
            .unwrap_or_else(|error| panic!("{id}'s configuration schema: {error}"));
        assert!(
            validator.is_valid(&template.example_config),
            "{id}'s example configuration breaks its schema"
        );
        // Every choice is labelled for a person and has a default or is asked for.
        for (name, property) in schema["properties"].as_object().unwrap() {
            assert!(property["title"].is_string(), "{id}: {name} has no title");
        }
        // Every `{{config.NAME}}` the workflow reads is a choice the schema offers.
        let text = template.workflow.to_string();
        for (_, name) in text
            .match_indices("{{config.")
            .map(|(at, _)| ((), &text[at + 9..]))
        {
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                schema["properties"].get(&name).is_some(),
                "{id} reads config.{name}, which its schema does not offer"
            );
        }
    }
}

async fn every_template_becomes_a_workflow_with_its_example_configuration(test: &TestStore) {
    for template in library().values() {
        let app = App::on(test);
        let owner = sign_up(&app, &format!("{}@example.com", template.id))
            .await
            .session();
        for service in &template.integrations.required {
            connect(&app, &owner, service).await;
        }
        let config = template.example_config.clone();
        let made = send(
            &app,
            "POST",
            &format!("/api/v1/templates/{}/instantiate", template.id),
            Some(json!({"config": config})),
            &[&owner[0]],
        )
        .await;
        assert_eq!(
            made.status,
            StatusCode::CREATED,
            "{}: {}",
            template.id,
            made.body
        );
        assert_eq!(
            made.body["active"], false,
            "{}: made switched off",
            template.id
        );
        let definition = made.body["definition"].to_string();
        assert!(
            !definition.contains("config."),
            "{}: every choice is put in: {definition}",
            template.id
        );
        // The example choices are in the workflow.
        for value in config.as_object().unwrap().values() {
            if let Some(text) = value.as_str().filter(|text| !text.is_empty()) {
                assert!(
                    definition.contains(&text.replace('"', "\\\"")),
                    "{}: {text:?} is not in {definition}",
                    template.id
                );
            }
        }
    }
}

async fn what_is_missing_is_named_before_anything_is_made(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let shown = send(
        &app,
        "GET",
        "/api/v1/templates/support_email_drafts",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["missing"], json!(["gmail", "ai"]));
    assert_eq!(shown.body["app_names"]["gmail"], "Gmail");
    let refused = send(
        &app,
        "POST",
        "/api/v1/templates/support_email_drafts/instantiate",
        Some(json!({"config": {}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let paths: Vec<&str> = refused.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|detail| detail["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["$.credentials.gmail", "$.credentials.ai"]);
    assert!(
        refused.body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Gmail is not connected")
    );
    let listed = send(&app, "GET", "/api/v1/workflows", None, &[&owner[0]]).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was made");

    // Any AI provider serves a template that asks for AI.
    connect(&app, &owner, "gmail").await;
    let created = send(
        &app,
        "POST",
        "/api/v1/credentials",
        Some(
            json!({"service": "anthropic", "name": "claude", "secret": {"api_key": "sk-ant-test"}}),
        ),
        &[&owner[0]],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let shown = send(
        &app,
        "GET",
        "/api/v1/templates/support_email_drafts",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(shown.body["missing"], json!([]));

    let unknown = send(
        &app,
        "GET",
        "/api/v1/templates/no_such_template",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn a_configuration_that_does_not_fit_is_refused_by_path(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    connect(&app, &owner, "gmail").await;
    connect(&app, &owner, "ai").await;
    let refused = send(
        &app,
        "POST",
        "/api/v1/templates/support_email_drafts/instantiate",
        Some(json!({"config": {"tone": "sarcastic", "company_name": ""}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let mut paths: Vec<&str> = refused.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|detail| detail["path"].as_str().unwrap())
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, ["$.config.company_name", "$.config.tone"]);

    // Left-out choices take their defaults, the chosen connection is named, and the name given
    // is the workflow's.
    let made = send(
        &app,
        "POST",
        "/api/v1/templates/support_email_drafts/instantiate",
        Some(json!({"config": {"company_name": "Acme Bakery"}, "credentials": {"gmail": "gmail main"}, "name": "Bakery inbox"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let definition = &made.body["definition"];
    assert_eq!(definition["name"], "Bakery inbox");
    assert_eq!(definition["steps"][1]["model"], "gpt-4o-mini");
    assert_eq!(definition["trigger"]["credential"], "gmail main");
    assert_eq!(definition["steps"][0]["credential"], "gmail main");
    assert!(
        definition["steps"][1]["system"]
            .as_str()
            .unwrap()
            .contains("for Acme Bakery. Write in a friendly tone")
    );
    // A second one from the same template gets an id of its own.
    let again = send(
        &app,
        "POST",
        "/api/v1/templates/support_email_drafts/instantiate",
        Some(json!({"config": {"company_name": "Acme Bakery"}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(again.body["id"], made.body["id"]);
}

async fn the_gallery_filters_and_counts_uses_and_ratings(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    let list = |query: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let listed = send(
                app,
                "GET",
                &format!("/api/v1/templates{query}"),
                None,
                &[&owner[0]],
            )
            .await;
            assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
            listed.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_str().unwrap().to_owned())
                .collect::<Vec<String>>()
        }
    };
    let all = list("").await;
    assert_eq!(all.len(), library().len());
    let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
    for template in library().values() {
        *by_category
            .entry(
                serde_json::to_value(template.category)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    let support = list("?category=customer_support").await;
    assert_eq!(support.len(), by_category["customer_support"]);
    assert!(support.contains(&"support_email_drafts".to_owned()));
    assert_eq!(
        list("?q=GMAIL%20support%20draft").await,
        ["support_email_drafts"]
    );
    assert!(list("?q=nothing-matches-this").await.is_empty());
    assert!(
        list("?tag=support")
            .await
            .contains(&"support_email_drafts".to_owned())
    );
    // Nothing connected: only templates that need no connection.
    for id in list("?connected_only=true").await {
        assert!(
            library()[&id]
                .integrations
                .required
                .iter()
                .all(|service| ["http", "zapier", "make"].contains(&service.as_str())),
            "{id}"
        );
    }
    connect(&app, &owner, "gmail").await;
    connect(&app, &owner, "ai").await;
    assert!(
        list("?connected_only=true")
            .await
            .contains(&"support_email_drafts".to_owned())
    );
    let bad = send(
        &app,
        "GET",
        "/api/v1/templates?category=gardening",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

    // Uses count; each person rates once, the latest rating standing.
    let made = send(
        &app,
        "POST",
        "/api/v1/templates/support_email_drafts/instantiate",
        Some(json!({"config": {}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    for stars in [2, 4] {
        let rated = send(
            &app,
            "PUT",
            "/api/v1/templates/support_email_drafts/rating",
            Some(json!({"stars": stars})),
            &[&owner[0]],
        )
        .await;
        assert_eq!(rated.status, StatusCode::OK, "{}", rated.body);
    }
    let shown = send(
        &app,
        "GET",
        "/api/v1/templates/support_email_drafts",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(shown.body["uses"], 1);
    assert_eq!(shown.body["rating"], json!({"average": 4.0, "count": 1}));
    assert_eq!(shown.body["my_rating"], 4);
    assert_eq!(
        list("").await[0],
        "support_email_drafts",
        "the most used first"
    );
    let refused = send(
        &app,
        "PUT",
        "/api/v1/templates/support_email_drafts/rating",
        Some(json!({"stars": 6})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["error"]["details"][0]["path"], "$.stars");
}

async fn an_organization_shares_its_own_workflow_as_a_template(test: &TestStore) {
    let app = App::on(test);
    let owner = sign_up(&app, "owner@example.com").await.session();
    connect(&app, &owner, "slack").await;
    let saved = send(
        &app,
        "POST",
        "/api/v1/workflows",
        Some(json!({"id": "wf_quotes", "name": "Quotes", "steps": [
            {"id": "post", "type": "integration", "service": "slack", "action": "post_message", "credential": "slack main",
             "inputs": {"channel": "#sales", "text": "Quote for {{ trigger.customer }}"}},
            {"id": "ask", "type": "llm", "model": "gpt-4o-mini", "prompt": "Hi"}
        ]})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let shared = send(
        &app,
        "POST",
        "/api/v1/templates",
        Some(json!({"workflow_id": "wf_quotes", "name": "Quotes the Acme way", "description": "Posts every quote to Slack.", "category": "sales"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.body);
    let id = shared.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("own_quotes_"), "{id}");
    let again = send(
        &app,
        "POST",
        "/api/v1/templates",
        Some(json!({"workflow_id": "wf_quotes", "name": "Again", "description": "Again.", "category": "sales"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.body["error"]["details"][0]["path"], "$.workflow_id");
    let missing = send(
        &app,
        "POST",
        "/api/v1/templates",
        Some(json!({"workflow_id": "wf_nothing", "name": "x", "description": "x.", "category": "sales"})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(missing.body["error"]["details"][0]["path"], "$.workflow_id");

    let shown = send(
        &app,
        "GET",
        &format!("/api/v1/templates/{id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["own"], true);
    assert_eq!(shown.body["author"], "Acme Ltd");
    assert_eq!(
        shown.body["integrations"]["required"],
        json!(["ai", "slack"])
    );
    assert_eq!(
        shown.body["steps_in_words"],
        json!(["Slack: post message", "Ask an AI model"])
    );
    assert!(
        !shown.body["workflow"].to_string().contains("slack main"),
        "the connection is left out: {}",
        shown.body["workflow"]
    );
    let listed = send(
        &app,
        "GET",
        "/api/v1/templates?category=sales",
        None,
        &[&owner[0]],
    )
    .await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["id"] == id.as_str() && item["own"] == true)
    );

    // A member uses it like any other.
    connect(&app, &owner, "ai").await;
    let made = send(
        &app,
        "POST",
        &format!("/api/v1/templates/{id}/instantiate"),
        Some(json!({"credentials": {"slack": "slack main"}})),
        &[&owner[0]],
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(
        made.body["definition"]["steps"][0]["credential"],
        "slack main"
    );
    assert_ne!(made.body["id"], "wf_quotes");

    // Another organization does not see it.
    let other = sign_up(&app, "other@example.com").await.session();
    let hidden = send(
        &app,
        "GET",
        &format!("/api/v1/templates/{id}"),
        None,
        &[&other[0]],
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    let official = send(
        &app,
        "DELETE",
        "/api/v1/templates/support_email_drafts",
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(official.status, StatusCode::UNPROCESSABLE_ENTITY);
    let removed = send(
        &app,
        "DELETE",
        &format!("/api/v1/templates/{id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = send(
        &app,
        "GET",
        &format!("/api/v1/templates/{id}"),
        None,
        &[&owner[0]],
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}
