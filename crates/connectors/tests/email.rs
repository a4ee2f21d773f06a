//! The email connector against a real mail server: dovecot for IMAP and postfix for SMTP,
//! started by each test (see `common/mail_server.rs`). What one mailbox sends, postfix
//! delivers to another, whose trigger and actions then read it over IMAP.

mod common;

#[path = "common/mail_server.rs"]
mod mail_server;
#[path = "../../store/tests/harness/skip.rs"]
mod skip;

use std::time::{Duration, Instant};

use baton_connectors::{AddressPolicy, ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, Connectors, PollCall, Polled, Secret};
use baton_engine::error::AuthProblem;
use mail_server::MailServer;
use serde_json::{Value, json};

const SUITE: &str = "the email (IMAP/SMTP) tests";

/// Connectors that may reach the local mail server.
fn registry() -> Registry {
    Registry::new(&ConnectorSettings {
        http_allow: AddressPolicy::parse("127.0.0.1").unwrap(),
        ..ConnectorSettings::default()
    })
}

fn action(secret: &Value, service: &str, action: &str, inputs: &Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: service.into(),
        action: action.into(),
        inputs: inputs.clone(),
        credential: None,
        idempotency_key: format!("exec-{}:{action}", uuid_like()),
        secret: Some(Secret(secret.clone())),
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Makes the call, which must succeed and give what the action declares.
async fn run(
    registry: &Registry,
    secret: &Value,
    service: &str,
    name: &str,
    inputs: &Value,
) -> Value {
    common::called(registry, action(secret, service, name, inputs)).await
}

/// Makes the call, which must fail.
async fn refused(
    registry: &Registry,
    secret: &Value,
    service: &str,
    name: &str,
    inputs: &Value,
) -> StepError {
    match registry.call(action(secret, service, name, inputs)).await {
        Ok(output) => panic!("{service} {name} should have failed, gave {output}"),
        Err(error) => error,
    }
}

async fn look(registry: &Registry, secret: &Value, folder: &str, cursor: Option<Value>) -> Polled {
    registry
        .poll(PollCall {
            org_id: OrgId::new(),
            service: "email".into(),
            event: "new_email".into(),
            inputs: json!({"folder": folder}),
            cursor,
            secret: Some(Secret(secret.clone())),
        })
        .await
        .unwrap_or_else(|error| panic!("new_email: {}", error.message))
}

/// Looks until something arrives (postfix delivers within moments); what the look found.
async fn look_until_new(registry: &Registry, secret: &Value, cursor: &Value) -> Polled {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let polled = look(registry, secret, "INBOX", Some(cursor.clone())).await;
        if !polled.items.is_empty() || Instant::now() > deadline {
            return polled;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn raw_message(from: &str, to: &str, subject: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nDate: Fri, 04 Dec 2026 09:12:00 +0000\nMessage-ID: {id}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

#[tokio::test]
async fn mail_sent_over_smtp_arrives_and_the_trigger_runs_it_once() {
    let Some(server) = MailServer::start(SUITE) else {
        return;
    };
    let registry = registry();
    let ann = server.account("ann", "tls");
    let bob = server.account("bob", "starttls");

    // The first look only marks where to start: what is already there does not run.
    server.deliver(
        "ann",
        &raw_message(
            "Old <old@acme.test>",
            "ann@acme.test",
            "Before the workflow",
            "<old-1@acme.test>",
            "Old news.",
        ),
    );
    let first = look(&registry, &ann, "INBOX", None).await;
    assert!(first.items.is_empty(), "{:?}", first.items);

    let sent = run(
        &registry,
        &bob,
        "email",
        "send",
        &json!({
            "to": "Ann <ann@acme.test>",
            "subject": "Order 1042: where is it?",
            "body": "Hello Ann,\nmy order has not arrived.\nBob",
            "html": "<p>Hello Ann,</p><p>my order has not arrived.</p>",
            "save_copy_to": "Sent",
        }),
    )
    .await;
    assert_eq!(sent["accepted"], json!(["ann@acme.test"]));
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    assert!(message_id.ends_with("@acme.test>"), "{message_id}");

    let arrived = look_until_new(&registry, &ann, &first.cursor).await;
    assert_eq!(arrived.items.len(), 1, "{}", server.logs());
    let (delivery, item) = &arrived.items[0];
    assert_eq!(item["from"], "bob@acme.test");
    assert_eq!(item["subject"], "Order 1042: where is it?");
    assert_eq!(item["message_id"], message_id.as_str());
    assert!(
        item["text"]
            .as_str()
            .unwrap()
            .contains("my order has not arrived."),
        "{item}"
    );
    assert!(item["html"].as_str().unwrap().contains("<p>Hello Ann,</p>"));
    assert_eq!(item["read"], false);
    assert_eq!(item["folder"], "INBOX");
    assert!(delivery.starts_with("INBOX/"), "{delivery}");
    let declared = registry
        .declarations()
        .find(|declaration| declaration.id == "email")
        .unwrap()
        .triggers[0]
        .example
        .clone();
    // The trigger's example has the shape of what it delivers.
    let mut fields: Vec<&String> = item.as_object().unwrap().keys().collect();
    let mut example_fields: Vec<&String> = declared.as_object().unwrap().keys().collect();
    fields.sort();
    example_fields.sort();
    assert_eq!(fields, example_fields);

    // The next look finds nothing: the message is not run twice.
    let again = look(&registry, &ann, "INBOX", Some(arrived.cursor.clone())).await;
    assert!(again.items.is_empty(), "{:?}", again.items);

    // The sender keeps a copy in Sent, read.
    let sent_folder = run(
        &registry,
        &bob,
        "email",
        "search",
        &json!({"folder": "Sent", "subject": "Order 1042"}),
    )
    .await;
    assert_eq!(sent_folder["total"], 1, "{sent_folder}");
    assert_eq!(sent_folder["messages"][0]["read"], true);
    assert_eq!(
        sent_folder["messages"][0]["message_id"],
        message_id.as_str()
    );
}

#[tokio::test]
async fn a_reply_carries_the_threading_headers() {
    let Some(server) = MailServer::start(SUITE) else {
        return;
    };
    let registry = registry();
    let ann = server.account("ann", "none");
    let carol = server.account("carol", "tls");
    server.deliver(
        "ann",
        &format!(
            "References: <q0@customer.test>\n{}",
            raw_message(
                "Carol Diaz <carol@acme.test>",
                "ann@acme.test",
                "Invoice 42",
                "<q1@customer.test>",
                "Could you resend invoice 42?",
            )
        ),
    );
    let carol_start = look(&registry, &carol, "INBOX", None).await;
    let found = run(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"subject": "Invoice 42"}),
    )
    .await;
    let uid = found["messages"][0]["uid"].clone();
    let question = run(&registry, &ann, "email", "read", &json!({"uid": uid})).await;
    assert_eq!(question["from_name"], "Carol Diaz");
    assert_eq!(question["message_id"], "<q1@customer.test>");
    assert_eq!(question["references"], "<q0@customer.test>");

    run(
        &registry,
        &ann,
        "email",
        "send",
        &json!({
            "to": question["from"],
            "subject": question["subject"],
            "body": "Here it is again.",
            "in_reply_to": question["message_id"],
            "references": question["references"],
        }),
    )
    .await;
    let answer = look_until_new(&registry, &carol, &carol_start.cursor).await;
    assert_eq!(answer.items.len(), 1, "{}", server.logs());
    let reply = &answer.items[0].1;
    assert_eq!(reply["subject"], "Re: Invoice 42");
    assert_eq!(reply["in_reply_to"], "<q1@customer.test>");
    assert_eq!(reply["references"], "<q0@customer.test> <q1@customer.test>");
    assert_eq!(reply["text"].as_str().unwrap().trim(), "Here it is again.");
}

#[tokio::test]
async fn search_read_mark_read_and_move_over_imap() {
    let Some(server) = MailServer::start(SUITE) else {
        return;
    };
    let registry = registry();
    let ann = server.account("ann", "tls");
    server.deliver(
        "ann",
        &raw_message(
            "billing@supplier.test",
            "ann@acme.test",
            "Invoice March",
            "<m1@supplier.test>",
            "Please pay.",
        ),
    );
    server.deliver(
        "ann",
        "From: Dora <dora@customer.test>\nTo: ann@acme.test\nSubject: =?utf-8?q?Caf=C3=A9_order?=\nMessage-ID: <m2@customer.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\nThe order is attached.\n--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"order.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b1--\n",
    );
    server.deliver(
        "ann",
        &raw_message(
            "billing@supplier.test",
            "ann@acme.test",
            "Invoice April",
            "<m3@supplier.test>",
            "Please pay again.",
        ),
    );

    let invoices = run(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"from": "billing@supplier.test", "unread_only": true}),
    )
    .await;
    assert_eq!(invoices["total"], 2, "{invoices}");
    let subjects: Vec<&str> = invoices["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Invoice April", "Invoice March"], "newest first");
    let march = invoices["messages"][1]["uid"].as_u64().unwrap();

    let limited = run(&registry, &ann, "email", "search", &json!({"limit": 1})).await;
    assert_eq!(limited["total"], 3);
    assert_eq!(limited["messages"].as_array().unwrap().len(), 1);

    let cafe = run(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"subject": "Café"}),
    )
    .await;
    assert_eq!(cafe["total"], 1, "{cafe}");
    let order = run(
        &registry,
        &ann,
        "email",
        "read",
        &json!({"uid": cafe["messages"][0]["uid"]}),
    )
    .await;
    assert_eq!(order["subject"], "Café order");
    assert_eq!(
        order["text"].as_str().unwrap().trim(),
        "The order is attached."
    );
    assert_eq!(
        order["attachments"],
        json!([{"filename": "order.pdf", "content_type": "application/pdf", "size": 9}])
    );
    assert_eq!(order["read"], false, "reading does not mark it read");

    let marked = run(
        &registry,
        &ann,
        "email",
        "mark_read",
        &json!({"uid": march}),
    )
    .await;
    assert_eq!(marked, json!({"uid": march, "read": true}));
    let unread = run(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"unread_only": true}),
    )
    .await;
    assert_eq!(unread["total"], 2, "{unread}");
    run(
        &registry,
        &ann,
        "email",
        "mark_read",
        &json!({"uid": march, "read": false}),
    )
    .await;
    let unread = run(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"unread_only": true}),
    )
    .await;
    assert_eq!(unread["total"], 3, "{unread}");

    let moved = run(
        &registry,
        &ann,
        "email",
        "move",
        &json!({"uid": march, "to_folder": "Archive"}),
    )
    .await;
    assert_eq!(moved, json!({"uid": march, "folder": "Archive"}));
    let inbox = run(&registry, &ann, "email", "search", &json!({})).await;
    assert_eq!(inbox["total"], 2, "{inbox}");
    let archive = run(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"folder": "Archive"}),
    )
    .await;
    assert_eq!(archive["messages"][0]["subject"], "Invoice March");
    assert_eq!(server.inbox_count("ann"), 2);

    // What is not there is named.
    let gone = refused(&registry, &ann, "email", "read", &json!({"uid": march})).await;
    assert_eq!(gone.class, ErrorClass::Permanent);
    assert!(
        gone.message.contains("no message with uid"),
        "{}",
        gone.message
    );
    let nowhere = refused(
        &registry,
        &ann,
        "email",
        "move",
        &json!({"uid": inbox["messages"][0]["uid"], "to_folder": "No Such Folder"}),
    )
    .await;
    assert_eq!(nowhere.class, ErrorClass::Permanent);
    assert!(
        nowhere.message.contains("No Such Folder"),
        "{}",
        nowhere.message
    );
    let no_folder = refused(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"folder": "Clients/Acme"}),
    )
    .await;
    assert!(
        no_folder.message.contains("no folder \"Clients/Acme\""),
        "{}",
        no_folder.message
    );
    let injected = refused(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"subject": "x\r\nA1 DELETE INBOX"}),
    )
    .await;
    assert!(
        injected
            .message
            .contains("subject cannot hold a line break"),
        "{}",
        injected.message
    );
    let bad_day = refused(
        &registry,
        &ann,
        "email",
        "search",
        &json!({"since": "04/12/2026"}),
    )
    .await;
    assert!(
        bad_day.message.contains("YYYY-MM-DD"),
        "{}",
        bad_day.message
    );
}

#[tokio::test]
async fn a_renumbered_folder_starts_over_without_running_old_mail() {
    let Some(server) = MailServer::start(SUITE) else {
        return;
    };
    let registry = registry();
    let ann = server.account("ann", "tls");
    let start = look(&registry, &ann, "INBOX", None).await;
    server.deliver(
        "ann",
        &raw_message("x@customer.test", "ann@acme.test", "One", "<r1@x>", "1"),
    );
    // A cursor from before the server renumbered the folder (another UIDVALIDITY): what is
    // there is not run, since Baton cannot tell which of it ran already.
    let mut stale = start.cursor.clone();
    stale["uid_validity"] = json!(stale["uid_validity"].as_u64().unwrap() + 1);
    stale["next_uid"] = json!(1);
    let after = look(&registry, &ann, "INBOX", Some(stale)).await;
    assert!(after.items.is_empty(), "{:?}", after.items);
    assert_eq!(after.cursor["uid_validity"], start.cursor["uid_validity"]);
    server.deliver(
        "ann",
        &raw_message("x@customer.test", "ann@acme.test", "Two", "<r2@x>", "2"),
    );
    let next = look(&registry, &ann, "INBOX", Some(after.cursor)).await;
    let subjects: Vec<&Value> = next
        .items
        .iter()
        .map(|(_, item)| &item["subject"])
        .collect();
    assert_eq!(subjects, [&json!("Two")]);
}

#[tokio::test]
async fn a_wrong_password_and_an_unproven_certificate_are_the_connections_to_fix() {
    let Some(server) = MailServer::start(SUITE) else {
        return;
    };
    let registry = registry();
    let ann = server.account("ann", "tls");
    let checked = registry
        .authenticate("email", &Secret(ann.clone()))
        .await
        .unwrap_or_else(|error| panic!("{}", error.message));
    assert_eq!(checked["email"], "ann@acme.test");

    let mut wrong = ann.clone();
    wrong["password"] = json!("not-the-password");
    let error = registry
        .authenticate("email", &Secret(wrong.clone()))
        .await
        .unwrap_err();
    assert_eq!(error.auth, Some(AuthProblem::Revoked), "{}", error.message);
    assert!(
        error.message.contains("refused the user name or password"),
        "{}",
        error.message
    );
    let error = refused(
        &registry,
        &wrong,
        "email",
        "send",
        &json!({"to": "bob@acme.test", "subject": "Hi", "body": "Hello"}),
    )
    .await;
    assert_eq!(error.auth, Some(AuthProblem::Revoked), "{}", error.message);

    let mut strict = ann.clone();
    strict["allow_self_signed"] = json!(false);
    let error = refused(&registry, &strict, "email", "search", &json!({})).await;
    assert_eq!(error.class, ErrorClass::Permanent);
    assert!(error.message.contains("self-signed"), "{}", error.message);
}

#[tokio::test]
async fn a_mail_server_on_an_internal_address_needs_the_operators_leave() {
    let registry = Registry::new(&ConnectorSettings::default());
    let secret = json!({
        "email": "ann@acme.test", "password": "x",
        "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1",
    });
    for (name, inputs) in [
        ("search", json!({})),
        (
            "send",
            json!({"to": "b@acme.test", "subject": "s", "body": "b"}),
        ),
    ] {
        let error = refused(&registry, &secret, "email", name, &inputs).await;
        assert_eq!(error.class, ErrorClass::Permanent, "{name}");
        assert!(
            error.message.contains("BATON_HTTP_ALLOW"),
            "{name}: {}",
            error.message
        );
    }
}

#[test]
fn the_connection_form_is_checked_field_by_field() {
    let registry = registry();
    let good = json!({
        "email": "ann@acme.test", "password": "x",
        "imap_host": "imap.acme.test", "smtp_host": "smtp.acme.test",
    });
    assert_eq!(registry.secret_problem("email", &good), None);
    let with = |field: &str, value: Value| {
        let mut secret = good.clone();
        secret[field] = value;
        registry.secret_problem("email", &secret)
    };
    let named = |problem: Option<(String, String)>, field: &str, words: &str| {
        let (path, message) = problem.unwrap_or_else(|| panic!("{field} should be refused"));
        assert_eq!(path, format!(".{field}"));
        assert!(message.contains(words), "{message}");
    };
    named(with("imap_host", json!("")), "imap_host", "missing");
    named(
        with("smtp_host", json!("smtps://smtp.acme.test:465")),
        "smtp_host",
        "without a scheme or port",
    );
    named(with("imap_port", json!("99999")), "imap_port", "not a port");
    named(
        with("smtp_security", json!("ssl3")),
        "smtp_security",
        "tls, starttls, none",
    );
    named(with("email", json!("ann")), "email", "not an email address");
    named(with("password", json!("")), "password", "missing");
    assert_eq!(
        with("imap_port", json!(993)),
        None,
        "a number is a port too"
    );
}
