//! The OpenAPI document describes endpoints that exist, with their bodies and errors, and the
//! reference page works with nothing from outside the server.

mod common;

use axum::http::StatusCode;
use common::{App, TestStore, send, sign_up};

#[tokio::test]
async fn every_documented_operation_is_served() {
    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    let session = sign_up(&app, "owner@example.com").await.session();
    let document = send(&app, "GET", "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(document.status, StatusCode::OK);
    let api = document.body;
    assert_eq!(api["openapi"], "3.1.0");
    let paths = api["paths"].as_object().unwrap();
    assert!(paths.len() >= 40, "{} paths", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(
                operation["responses"]["500"]["content"]["application/json"]["schema"]["$ref"]
                    == "#/components/schemas/Error",
                "{method} {path} documents the error shape"
            );
            if path.contains("logout") || path.contains("/organization") && method == "delete" {
                continue; // would end the session the next checks use
            }
            let concrete = path
                .replace("{id}", "00000000-0000-7000-8000-000000000000")
                .replace("{user_id}", "00000000-0000-7000-8000-000000000000")
                .replace("{version}", "1")
                .replace("{step}", "ask")
                .replace("{token}", "no-such-token");
            let body = (method != "get" && method != "delete").then(|| serde_json::json!({}));
            let reply = send(
                &app,
                &method.to_uppercase(),
                &concrete,
                body,
                &[&session[0]],
            )
            .await;
            assert_ne!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let no_route = reply.status == StatusCode::NOT_FOUND
                && reply.body["error"]["message"]
                    .as_str()
                    .is_some_and(|message| message.starts_with("there is no such endpoint"));
            assert!(!no_route, "{method} {path} is documented but not served");
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked} operations checked");
    let unknown = send(&app, "GET", "/api/v1/nothing-here", None, &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("openapi.json")
    );
}

#[tokio::test]
async fn request_bodies_come_from_the_handlers_types() {
    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    let api = send(&app, "GET", "/api/v1/openapi.json", None, &[])
        .await
        .body;
    let schemas = &api["components"]["schemas"];
    let signup = &schemas["Signup"];
    let mut required: Vec<&str> = signup["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["email", "name", "organization_name", "password"]);
    assert_eq!(
        signup["additionalProperties"], false,
        "unknown fields are refused"
    );
    assert!(
        schemas["Workflow"]["properties"]["steps"].is_object(),
        "the DSL's own schema"
    );
    let run = &api["paths"]["/api/v1/workflows/{id}/runs"]["post"];
    assert_eq!(
        run["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RunRequest"
    );
    assert_eq!(
        run["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Execution"
    );
    assert_eq!(run["parameters"][0]["name"], "id");
    let codes: Vec<&str> = schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    for code in [
        "invalid",
        "not_found",
        "rate_limited",
        "too_large",
        "mfa_required",
    ] {
        assert!(codes.contains(&code), "{code}");
    }
}

#[tokio::test]
async fn the_reference_page_loads_nothing_from_elsewhere() {
    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    for (path, kind) in [
        ("/api/v1/docs", "text/html"),
        ("/api/v1/docs/reference.js", "text/javascript"),
        ("/api/v1/docs/reference.css", "text/css"),
    ] {
        let request = axum::http::Request::get(path)
            .header(axum::http::header::HOST, "baton.test")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.router.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response.headers()[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        let text = String::from_utf8(
            axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "{path} refers outside"
        );
    }
}

/// The web app's API types are generated from `web/openapi.json`: that copy must be the
/// document the server serves, or the types describe another API. `BATON_UPDATE_OPENAPI=1`
/// writes the served document there (then `web/test.sh` regenerates the types).
#[tokio::test]
async fn the_web_apps_copy_of_the_document_is_the_served_one() {
    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    let served = send(&app, "GET", "/api/v1/openapi.json", None, &[])
        .await
        .body;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/openapi.json");
    let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var("BATON_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "web/openapi.json differs from the served document: run \
         `BATON_UPDATE_OPENAPI=1 cargo test -p baton-server --test openapi` and `web/test.sh`, \
         and commit both"
    );
}

/// Every `$ref` of the document points at something in it (a generator follows them all).
#[tokio::test]
async fn every_reference_of_the_document_resolves() {
    fn refs(value: &serde_json::Value, into: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, inner) in fields {
                    match (key.as_str(), inner.as_str()) {
                        ("$ref", Some(target)) => into.push(target.to_owned()),
                        _ => refs(inner, into),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| refs(item, into)),
            _ => {}
        }
    }
    let test = TestStore::sqlite().await;
    let app = App::on(&test);
    let document = send(&app, "GET", "/api/v1/openapi.json", None, &[])
        .await
        .body;
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(found.len() > 50, "{} references", found.len());
    let broken: Vec<&String> = found
        .iter()
        .filter(|target| {
            target
                .strip_prefix('#')
                .is_none_or(|pointer| document.pointer(pointer).is_none())
        })
        .collect();
    assert!(broken.is_empty(), "references to nothing: {broken:?}");
}
