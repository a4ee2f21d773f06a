//! The Stripe connector against a local fake of Stripe's API. The fake takes its rules from
//! Stripe's own OpenAPI description (the parts kept in `tests/contracts/stripe.json`): every
//! form it is sent is decoded as Stripe decodes it (`a[b][0]=...`) and checked against the
//! operation's documented request body or query parameters, and every object it answers with
//! is one of Stripe's published fixtures, changed as the request asks, and checked against its
//! documented schema before it is sent. It keeps what it made, replays a repeated
//! Idempotency-Key as Stripe does, and answers errors as Stripe's `{"error": {...}}`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use baton_connectors::{ConnectorSettings, Registry};
use baton_core::{ErrorClass, OrgId};
use baton_engine::connector::{ActionCall, Connectors, IncomingWebhook, Secret, WebhookOutcome};
use baton_engine::error::AuthProblem;
use serde_json::{Map, Value, json};

static CONTRACT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("contracts/stripe.json")).expect("contract JSON")
});

/// Every way `value` breaks `schema` (which may refer to the contract's components).
fn problems(schema: &Value, value: &Value) -> Vec<String> {
    let mut rooted = schema.clone();
    if let Value::Object(fields) = &mut rooted {
        fields.insert("components".into(), CONTRACT["components"].clone());
    }
    let validator = jsonschema::validator_for(&rooted).expect("the contract compiles");
    validator
        .iter_errors(value)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect()
}

/// Fails unless `value` is the documented shape of Stripe's object `name`.
fn check(name: &str, value: &Value) -> Result<(), String> {
    let found = problems(
        &json!({"$ref": format!("#/components/schemas/{name}")}),
        value,
    );
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {found:?}"))
    }
}

/// Stripe's form encoding read back: `line_items[0][price]=p` is
/// `{"line_items": [{"price": "p"}]}`; every value is text until the schema says otherwise.
fn decode_form(encoded: &str) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in url::form_urlencoded::parse(encoded.as_bytes()) {
        let mut path: Vec<String> = Vec::new();
        let (head, rest) = key.split_once('[').unwrap_or((&key, ""));
        path.push(head.to_owned());
        for part in rest.split('[').filter(|part| !part.is_empty()) {
            path.push(part.trim_end_matches(']').to_owned());
        }
        let (last, parents) = path.split_last().expect("a key has a name");
        let mut at = &mut root;
        for segment in parents {
            at = at
                .as_object_mut()
                .expect("a form key nests inside an object")
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        at.as_object_mut()
            .expect("a form key nests inside an object")
            .insert(last.clone(), Value::String(value.to_string()));
    }
    arrays(root)
}

/// Objects keyed 0, 1, 2... are the lists they encode.
fn arrays(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let indexed = !fields.is_empty()
                && (0..fields.len()).all(|index| fields.contains_key(&index.to_string()));
            if indexed {
                let mut fields = fields;
                Value::Array(
                    (0..fields.len())
                        .map(|index| arrays(fields.remove(&index.to_string()).unwrap()))
                        .collect(),
                )
            } else {
                Value::Object(
                    fields
                        .into_iter()
                        .map(|(name, inner)| (name, arrays(inner)))
                        .collect(),
                )
            }
        }
        other => other,
    }
}

/// The schema and its `anyOf` branches.
fn branches(schema: &Value) -> Vec<&Value> {
    let mut all = vec![schema];
    if let Some(options) = schema["anyOf"].as_array() {
        all.extend(options.iter());
    }
    all
}

fn allows(schema: &Value, kind: &str) -> bool {
    branches(schema).iter().any(|branch| match &branch["type"] {
        Value::String(one) => one == kind,
        Value::Array(many) => many.iter().any(|one| one == kind),
        _ => false,
    })
}

/// The form's text turned into the numbers and booleans its schema says they are.
fn coerce(value: Value, schema: &Value) -> Value {
    match value {
        Value::String(text) => {
            if allows(schema, "integer")
                && let Ok(number) = text.parse::<i64>()
            {
                return json!(number);
            }
            if allows(schema, "number")
                && let Ok(number) = text.parse::<f64>()
            {
                return json!(number);
            }
            if allows(schema, "boolean") && (text == "true" || text == "false") {
                return json!(text == "true");
            }
            Value::String(text)
        }
        Value::Object(fields) => {
            let object = branches(schema)
                .into_iter()
                .find(|branch| branch.get("properties").is_some())
                .or_else(|| {
                    branches(schema)
                        .into_iter()
                        .find(|branch| branch.get("additionalProperties").is_some())
                });
            Value::Object(
                fields
                    .into_iter()
                    .map(|(name, inner)| {
                        let inner_schema = object
                            .and_then(|object| {
                                object["properties"]
                                    .get(&name)
                                    .or_else(|| object.get("additionalProperties"))
                            })
                            .unwrap_or(&Value::Null);
                        let coerced = coerce(inner, inner_schema);
                        (name, coerced)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => {
            let item_schema = branches(schema)
                .into_iter()
                .find_map(|branch| branch.get("items"))
                .unwrap_or(&Value::Null);
            Value::Array(
                items
                    .into_iter()
                    .map(|item| coerce(item, item_schema))
                    .collect(),
            )
        }
        other => other,
    }
}

/// What is wrong with a request to `operation` (`post /v1/customers`): a body or query
/// parameter Stripe does not document for it, or one of the wrong shape.
fn request_problems(operation: &str, fields: Value) -> Result<Value, String> {
    let documented = CONTRACT["operations"]
        .get(operation)
        .ok_or_else(|| format!("the contract keeps no operation {operation}"))?;
    let body_schema =
        &documented["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let Value::Object(given) = &fields else {
        return Err("the request is not a form".into());
    };
    let mut coerced = Map::new();
    let mut found = Vec::new();
    for (name, value) in given {
        let parameter = documented["parameters"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|parameter| parameter["name"] == *name && parameter["in"] == "query")
            })
            .map(|parameter| &parameter["schema"]);
        let schema = match (parameter, body_schema["properties"].get(name)) {
            (Some(schema), _) | (None, Some(schema)) => schema,
            (None, None) => {
                found.push(format!("`{name}` is not a parameter of {operation}"));
                continue;
            }
        };
        let value = coerce(value.clone(), schema);
        found.extend(
            problems(schema, &value)
                .into_iter()
                .map(|problem| format!("`{name}`: {problem}")),
        );
        coerced.insert(name.clone(), value);
    }
    if let Some(required) = body_schema["required"].as_array() {
        for name in required.iter().filter_map(Value::as_str) {
            if !given.contains_key(name) {
                found.push(format!("`{name}` is required by {operation}"));
            }
        }
    }
    if found.is_empty() {
        Ok(Value::Object(coerced))
    } else {
        Err(found.join("; "))
    }
}

/// One request the fake took: operation, Idempotency-Key, decoded fields.
#[derive(Clone, Debug)]
struct Seen {
    operation: String,
    idempotency_key: Option<String>,
    fields: Value,
}

#[derive(Default)]
struct Fake {
    objects: BTreeMap<String, Value>,
    replays: BTreeMap<String, (StatusCode, Value)>,
    seen: Vec<Seen>,
    made: u32,
}

type Shared = Arc<Mutex<Fake>>;

fn fixture(name: &str) -> Value {
    CONTRACT["fixtures"][name].clone()
}

fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> (StatusCode, Value) {
    let mut body = json!({"type": kind, "message": message});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    let answer = json!({"error": body});
    check("error", &answer).expect("the fake's error is Stripe's documented shape");
    (status, answer)
}

fn missing(kind: &str, id: &str) -> (StatusCode, Value) {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

/// An object answered after its schema is checked.
fn documented(schema: &str, object: Value) -> (StatusCode, Value) {
    check(schema, &object).expect("the fake answers as Stripe documents");
    (StatusCode::OK, object)
}

fn list(url: &str, items: Vec<Value>, schema: &str) -> (StatusCode, Value) {
    for item in &items {
        check(schema, item).expect("each listed object is Stripe's documented shape");
    }
    (
        StatusCode::OK,
        json!({"object": "list", "url": url, "has_more": false, "data": items}),
    )
}

impl Fake {
    fn id(&mut self, prefix: &str) -> String {
        self.made += 1;
        format!("{prefix}_fake{:04}", self.made)
    }

    /// The fake's accounts data before any test: a customer, an overdue and a paid invoice,
    /// a subscription, two charges.
    fn seeded() -> Self {
        let mut fake = Fake::default();
        let now = chrono::Utc::now().timestamp();
        let mut customer = fixture("customer");
        customer["id"] = json!("cus_NffrFeUfNV2Hib");
        customer["email"] = json!("ann@customer.com");
        customer["name"] = json!("Ann Lee");
        fake.objects.insert("cus_NffrFeUfNV2Hib".into(), customer);
        for (id, status, due, amount) in [
            ("in_overdue", "open", now - 10 * 86_400 - 60, 4500),
            ("in_paid", "paid", now - 20 * 86_400, 9900),
            ("in_not_yet_due", "open", now + 5 * 86_400, 1200),
        ] {
            let mut invoice = Self::invoice_shape(fixture("invoice"));
            invoice["id"] = json!(id);
            invoice["status"] = json!(status);
            invoice["due_date"] = json!(due);
            invoice["currency"] = json!("eur");
            invoice["customer"] = json!("cus_NffrFeUfNV2Hib");
            invoice["customer_email"] = json!("ann@customer.com");
            invoice["collection_method"] = json!("send_invoice");
            invoice["amount_due"] = json!(amount);
            invoice["amount_remaining"] = json!(if status == "paid" { 0 } else { amount });
            invoice["amount_paid"] = json!(if status == "paid" { amount } else { 0 });
            invoice["total"] = json!(amount);
            fake.objects.insert(id.into(), invoice);
        }
        let mut subscription = fixture("subscription");
        subscription["id"] = json!("sub_1MowQVLkdIwHu7ixeRlqHVzs");
        subscription["status"] = json!("past_due");
        subscription["customer"] = json!("cus_NffrFeUfNV2Hib");
        subscription["current_period_start"] = json!(now - 86_400);
        subscription["current_period_end"] = json!(now + 29 * 86_400);
        fake.objects
            .insert("sub_1MowQVLkdIwHu7ixeRlqHVzs".into(), subscription);
        for (id, amount, refunded) in [
            ("ch_3MmlLrLkdIwHu7ix0snN0B15", 4900, false),
            ("ch_refunded", 1000, true),
        ] {
            let mut charge = fixture("charge");
            charge["id"] = json!(id);
            charge["amount"] = json!(amount);
            charge["currency"] = json!("eur");
            charge["customer"] = json!("cus_NffrFeUfNV2Hib");
            charge["paid"] = json!(true);
            charge["status"] = json!("succeeded");
            charge["refunded"] = json!(refunded);
            charge["amount_refunded"] = json!(if refunded { amount } else { 0 });
            fake.objects.insert(id.into(), charge);
        }
        fake
    }

    /// Stripe's fixture of an invoice is today's shape; API version 2023-08-16 also has these.
    fn invoice_shape(mut invoice: Value) -> Value {
        invoice["paid"] = json!(false);
        invoice["paid_out_of_band"] = json!(false);
        invoice["total_tax_amounts"] = json!([]);
        invoice
    }

    fn objects_of(&self, prefix: &str) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .map(|(_, object)| object.clone())
            .collect()
    }

    fn handle(&mut self, method: &Method, path: &str, fields: &Value) -> (StatusCode, Value) {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let post = *method == Method::POST;
        match segments.as_slice() {
            ["v1", "customers"] if post => {
                let mut customer = fixture("customer");
                let id = self.id("cus");
                customer["id"] = json!(id);
                for field in ["email", "name", "phone", "description", "metadata"] {
                    if let Some(value) = fields.get(field) {
                        customer[field] = value.clone();
                    }
                }
                if customer["name"] == "rate limited" {
                    return error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "invalid_request_error",
                        Some("rate_limit"),
                        "Too many requests hit the API too quickly.",
                    );
                }
                self.objects.insert(id, customer.clone());
                documented("customer", customer)
            }
            ["v1", "customers", "search"] => {
                let query = fields["query"].as_str().unwrap_or_default();
                let email = query
                    .strip_prefix("email:'")
                    .and_then(|rest| rest.strip_suffix('\''))
                    .map(|email| email.replace("\\'", "'"));
                let found: Vec<Value> = self
                    .objects_of("cus_")
                    .into_iter()
                    .filter(|customer| {
                        email
                            .as_deref()
                            .is_some_and(|email| customer["email"] == email)
                    })
                    .collect();
                for customer in &found {
                    check("customer", customer).unwrap();
                }
                (
                    StatusCode::OK,
                    json!({"object": "search_result", "url": "/v1/customers/search", "has_more": false, "next_page": null, "data": found}),
                )
            }
            ["v1", "customers", "cus_deleted"] => documented(
                "deleted_customer",
                json!({"id": "cus_deleted", "object": "customer", "deleted": true}),
            ),
            ["v1", "customers", id] => {
                let Some(customer) = self.objects.get_mut(*id) else {
                    return missing("customer", id);
                };
                if post {
                    for (field, value) in fields.as_object().unwrap() {
                        if field == "metadata" {
                            for (key, inner) in value.as_object().unwrap() {
                                customer["metadata"][key] = inner.clone();
                            }
                        } else {
                            customer[field] = value.clone();
                        }
                    }
                }
                documented("customer", customer.clone())
            }
            ["v1", "invoices"] if post => {
                let customer = fields["customer"].as_str().unwrap_or_default();
                if !self.objects.contains_key(customer) {
                    return missing("customer", customer);
                }
                let mut invoice = Self::invoice_shape(fixture("invoice"));
                let id = self.id("in");
                invoice["id"] = json!(id);
                invoice["status"] = json!("draft");
                invoice["number"] = Value::Null;
                invoice["customer"] = json!(customer);
                invoice["customer_email"] = self.objects[customer]["email"].clone();
                invoice["customer_name"] = self.objects[customer]["name"].clone();
                invoice["currency"] = fields["currency"].clone();
                invoice["collection_method"] = fields["collection_method"].clone();
                invoice["description"] = fields["description"].clone();
                invoice["due_date"] = match fields["days_until_due"].as_i64() {
                    Some(days) => json!(chrono::Utc::now().timestamp() + days * 86_400),
                    None => Value::Null,
                };
                for field in [
                    "amount_due",
                    "amount_remaining",
                    "amount_paid",
                    "total",
                    "subtotal",
                ] {
                    invoice[field] = json!(0);
                }
                invoice["hosted_invoice_url"] = Value::Null;
                invoice["invoice_pdf"] = Value::Null;
                self.objects.insert(id, invoice.clone());
                documented("invoice", invoice)
            }
            ["v1", "invoices"] => {
                let before = fields["due_date"]["lt"].as_i64().unwrap_or(i64::MAX);
                let invoices = self
                    .objects_of("in_")
                    .into_iter()
                    .filter(|invoice| {
                        fields
                            .get("status")
                            .is_none_or(|status| invoice["status"] == *status)
                            && invoice["due_date"].as_i64().is_some_and(|due| due < before)
                    })
                    .collect();
                list("/v1/invoices", invoices, "invoice")
            }
            ["v1", "invoiceitems"] => {
                let invoice_id = fields["invoice"].as_str().unwrap_or_default();
                let Some(invoice) = self.objects.get_mut(invoice_id) else {
                    return missing("invoice", invoice_id);
                };
                if invoice["status"] != "draft" {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        Some("invoice_not_editable"),
                        "You can only add invoice items to draft invoices.",
                    );
                }
                let line = fields["unit_amount"].as_i64().unwrap_or(0)
                    * fields["quantity"].as_i64().unwrap_or(1);
                for field in ["amount_due", "amount_remaining", "total", "subtotal"] {
                    invoice[field] = json!(invoice[field].as_i64().unwrap_or(0) + line);
                }
                let mut item = fixture("invoiceitem");
                item["id"] = json!(format!("ii_{}_{}", invoice_id, self.made));
                self.made += 1;
                item["invoice"] = json!(invoice_id);
                item["amount"] = json!(line);
                item["currency"] = fields["currency"].clone();
                item["description"] = fields["description"].clone();
                item["quantity"] = fields["quantity"].clone();
                documented("invoiceitem", item)
            }
            ["v1", "invoices", id, action] if post => {
                let Some(invoice) = self.objects.get_mut(*id) else {
                    return missing("invoice", id);
                };
                match (*action, invoice["status"].as_str()) {
                    ("finalize", Some("draft")) => {
                        invoice["status"] = json!("open");
                        invoice["number"] = json!("ACME-0042");
                        invoice["hosted_invoice_url"] =
                            json!(format!("https://invoice.stripe.com/i/{id}"));
                        invoice["invoice_pdf"] =
                            json!(format!("https://pay.stripe.com/invoice/{id}/pdf"));
                    }
                    ("send", Some("open")) if invoice["collection_method"] == "send_invoice" => {}
                    (action, status) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request_error",
                            Some("invoice_unexpected_state"),
                            &format!("This invoice is {status:?}; it cannot be {action}ed."),
                        );
                    }
                }
                documented("invoice", invoice.clone())
            }
            ["v1", "invoices", id] => match self.objects.get(*id) {
                Some(invoice) => documented("invoice", invoice.clone()),
                None => missing("invoice", id),
            },
            ["v1", "prices"] => {
                let mut price = fixture("price");
                price["id"] = json!(self.id("price"));
                price["type"] = json!("one_time");
                price["recurring"] = Value::Null;
                price["currency"] = fields["currency"].clone();
                price["unit_amount"] = fields["unit_amount"].clone();
                price["unit_amount_decimal"] = json!(fields["unit_amount"].to_string());
                documented("price", price)
            }
            ["v1", "payment_links"] => {
                let mut link = fixture("payment_link");
                let id = self.id("plink");
                link["url"] = json!(format!("https://buy.stripe.com/test_{id}"));
                link["id"] = json!(id);
                documented("payment_link", link)
            }
            ["v1", "subscriptions"] => {
                let subscriptions = self
                    .objects_of("sub_")
                    .into_iter()
                    .filter(|subscription| {
                        fields
                            .get("status")
                            .is_none_or(|status| subscription["status"] == *status)
                    })
                    .collect();
                list("/v1/subscriptions", subscriptions, "subscription")
            }
            ["v1", "subscriptions", id] => match self.objects.get(*id) {
                Some(subscription) => documented("subscription", subscription.clone()),
                None => missing("subscription", id),
            },
            ["v1", "charges"] => {
                let charges = self.objects_of("ch_");
                list("/v1/charges", charges, "charge")
            }
            ["v1", "charges", id] => match self.objects.get(*id) {
                Some(charge) => documented("charge", charge.clone()),
                None => missing("charge", id),
            },
            ["v1", "refunds"] => {
                let charge_id = fields["charge"].as_str().unwrap_or_default();
                let Some(charge) = self.objects.get(charge_id).cloned() else {
                    return missing("charge", charge_id);
                };
                if charge["refunded"] == true {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        Some("charge_already_refunded"),
                        &format!("Charge {charge_id} has already been refunded."),
                    );
                }
                let mut refund = fixture("refund");
                refund["id"] = json!(self.id("re"));
                refund["charge"] = json!(charge_id);
                refund["currency"] = charge["currency"].clone();
                refund["amount"] = fields
                    .get("amount")
                    .cloned()
                    .unwrap_or_else(|| charge["amount"].clone());
                refund["reason"] = fields.get("reason").cloned().unwrap_or(Value::Null);
                documented("refund", refund)
            }
            ["v1", "balance"] => {
                let mut balance = fixture("balance");
                balance["available"] = json!([
                    {"amount": 123_456, "currency": "eur", "source_types": {"card": 123_456}},
                    {"amount": 500, "currency": "jpy", "source_types": {"card": 500}}
                ]);
                documented("balance", balance)
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                None,
                &format!("Unrecognized request URL ({method}: {path})."),
            ),
        }
    }
}

/// The documented operation a path is, as the contract names it.
fn operation(method: &Method, path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let template = match segments.as_slice() {
        ["v1", "customers", "search"] => "/v1/customers/search".to_owned(),
        ["v1", "customers", _] => "/v1/customers/{customer}".to_owned(),
        ["v1", "invoices", _] => "/v1/invoices/{invoice}".to_owned(),
        ["v1", "invoices", _, action] => format!("/v1/invoices/{{invoice}}/{action}"),
        ["v1", "subscriptions", _] => "/v1/subscriptions/{subscription_exposed_id}".to_owned(),
        ["v1", "charges", _] => "/v1/charges/{charge}".to_owned(),
        _ => path.to_owned(),
    };
    format!("{} {template}", method.as_str().to_ascii_lowercase())
}

async fn serve(
    axum::extract::State(fake): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let answer = |(status, body): (StatusCode, Value)| {
        let mut response = (status, axum::Json(body)).into_response();
        // Stripe's word on whether a retry can help.
        if status.is_server_error() || status == StatusCode::CONFLICT {
            response
                .headers_mut()
                .insert("stripe-should-retry", "true".parse().unwrap());
        } else if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("stripe-should-retry", "false".parse().unwrap());
        }
        response
    };
    let key = header("authorization").unwrap_or_default();
    let restricted = key == "Bearer rk_test_invoices_only";
    if key != "Bearer sk_test_good" && !restricted {
        return answer(error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided: sk_test_****oked",
        ));
    }
    if header("stripe-version").as_deref() != Some("2023-08-16") {
        return answer(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            "The request names no Stripe-Version, or another one than this fake speaks.",
        ));
    }
    let path = uri.path();
    if restricted && path == "/v1/balance" {
        return answer(error(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            None,
            "The provided key 'rk_test_****only' does not have the required permissions for this endpoint on account 'acct_1'.",
        ));
    }
    let operation = operation(&method, path);
    let encoded = if method == Method::GET {
        uri.query().unwrap_or_default().to_owned()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let fields = match request_problems(&operation, decode_form(&encoded)) {
        Ok(fields) => fields,
        Err(problem) => {
            return answer(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_unknown"),
                &problem,
            ));
        }
    };
    let idempotency_key = header("idempotency-key");
    let mut fake = fake.lock().unwrap();
    fake.seen.push(Seen {
        operation: operation.clone(),
        idempotency_key: idempotency_key.clone(),
        fields: fields.clone(),
    });
    if fields["description"] == "server trouble" {
        return answer(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            None,
            "An unknown error occurred.",
        ));
    }
    if method == Method::POST
        && let Some(key) = &idempotency_key
    {
        if let Some(replayed) = fake.replays.get(key) {
            return answer(replayed.clone());
        }
        let answered = fake.handle(&method, path, &fields);
        fake.replays.insert(key.clone(), answered.clone());
        return answer(answered);
    }
    answer(fake.handle(&method, path, &fields))
}

async fn stripe() -> (Registry, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake::seeded()));
    let app = axum::Router::new().fallback(serve).with_state(fake.clone());
    let addr = common::serve_fake(app).await;
    let registry = Registry::new(&ConnectorSettings {
        stripe_base_url: Some(format!("http://{addr}")),
        ..Default::default()
    });
    (registry, fake)
}

fn call(action: &str, inputs: Value) -> ActionCall {
    ActionCall {
        org_id: OrgId::new(),
        service: "stripe".into(),
        action: action.into(),
        inputs,
        credential: None,
        idempotency_key: format!("exec-1:{action}"),
        secret: Some(Secret(json!({"api_key": "sk_test_good"}))),
    }
}

const SERVICE: &str = "stripe";

/// Calls `action` and checks its output is what the action declares.
async fn run(registry: &Registry, service: &str, action: &str, inputs: &Value) -> Value {
    assert_eq!(service, SERVICE);
    common::called(registry, call(action, inputs.clone())).await
}

#[test]
fn the_contracts_fixtures_are_stripes_documented_shapes() {
    // The fake builds its answers from these: a fixture that broke its schema would make
    // every check below meaningless.
    for name in [
        "customer",
        "invoiceitem",
        "price",
        "payment_link",
        "charge",
        "refund",
        "balance",
        "event",
    ] {
        check(name, &fixture(name)).unwrap();
    }
    check("invoice", &Fake::invoice_shape(fixture("invoice"))).unwrap();
    assert!(
        check("invoice", &fixture("invoice")).is_err(),
        "today's invoice lacks fields API version 2023-08-16 has, which the fake adds"
    );
    assert!(
        request_problems("post /v1/customers", json!({"emial": "a@b.c"}))
            .unwrap_err()
            .contains("`emial` is not a parameter"),
        "a misspelt field is caught by the contract"
    );
    assert!(
        request_problems(
            "post /v1/invoiceitems",
            json!({"customer": "cus_1", "unit_amount": "12.5"})
        )
        .is_err(),
        "an amount that is not a whole number of cents is caught"
    );
}

#[tokio::test]
async fn customers_are_created_found_read_and_changed() {
    let (registry, fake) = stripe().await;
    let made = run(
        &registry,
        "stripe",
        "create_customer",
        &common::example(&registry, "stripe", "create_customer"),
    )
    .await;
    assert_eq!(made["email"], "ann@customer.com");
    assert_eq!(made["metadata"], json!({"source": "website"}));
    let id = made["id"].as_str().unwrap().to_owned();
    let found = run(
        &registry,
        "stripe",
        "search_customers",
        &json!({"email": "ann@customer.com"}),
    )
    .await;
    assert_eq!(found["count"], 2, "the seeded Ann and the new one: {found}");
    let read = run(
        &registry,
        "stripe",
        "get_customer",
        &json!({"customer_id": id}),
    )
    .await;
    assert_eq!(read["name"], "Ann Lee");
    let changed = run(
        &registry,
        "stripe",
        "update_customer",
        &json!({"customer_id": id, "phone": "+44 20 7946 0958", "metadata": {"plan": "pro"}}),
    )
    .await;
    assert_eq!(changed["phone"], "+44 20 7946 0958");
    assert_eq!(
        changed["metadata"],
        json!({"source": "website", "plan": "pro"})
    );
    assert_eq!(
        changed["email"], "ann@customer.com",
        "what was not given stays"
    );

    let seen = fake.lock().unwrap().seen.clone();
    assert_eq!(seen[0].operation, "post /v1/customers");
    assert_eq!(seen[0].fields["metadata"], json!({"source": "website"}));
    assert_eq!(
        seen[0].idempotency_key.as_deref(),
        Some("exec-1:create_customer")
    );
    assert_eq!(seen[1].fields["query"], "email:'ann@customer.com'");
    assert_eq!(seen[1].fields["limit"], 10);
    let update = seen
        .iter()
        .find(|seen| seen.operation == "post /v1/customers/{customer}")
        .unwrap();
    assert!(
        update.fields.get("customer_id").is_none(),
        "the id goes in the path only"
    );

    let deleted = registry
        .call(call("get_customer", json!({"customer_id": "cus_deleted"})))
        .await
        .unwrap_err();
    assert!(
        deleted.message.contains("was deleted"),
        "{}",
        deleted.message
    );
    let unknown = registry
        .call(call("get_customer", json!({"customer_id": "cus_nobody"})))
        .await
        .unwrap_err();
    assert_eq!(unknown.class, ErrorClass::Permanent);
    assert!(
        unknown.message.contains("No such customer"),
        "{}",
        unknown.message
    );
    let neither = registry
        .call(call("search_customers", json!({})))
        .await
        .unwrap_err();
    assert!(
        neither.message.contains("`email` or `query`"),
        "{}",
        neither.message
    );
}

#[tokio::test]
async fn an_invoice_is_made_with_its_lines_finalized_and_sent_once_however_often_the_step_runs() {
    let (registry, fake) = stripe().await;
    let invoice = run(
        &registry,
        "stripe",
        "create_invoice",
        &common::example(&registry, "stripe", "create_invoice"),
    )
    .await;
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["number"], "ACME-0042");
    assert_eq!(invoice["currency"], "eur");
    assert_eq!(
        invoice["amount_due"],
        120_000 + 12 * 2500,
        "minor units, as Stripe counts"
    );
    assert_eq!(invoice["amount_due_text"], "1500.00 EUR");
    assert_eq!(invoice["customer_email"], "ann@customer.com");
    assert_eq!(invoice["days_overdue"], 0);
    assert!(
        invoice["hosted_invoice_url"]
            .as_str()
            .unwrap()
            .starts_with("https://invoice.stripe.com/")
    );

    // The step runs again (a retry after a crash): Stripe replays each request by its key.
    let again = run(
        &registry,
        "stripe",
        "create_invoice",
        &common::example(&registry, "stripe", "create_invoice"),
    )
    .await;
    assert_eq!(again["id"], invoice["id"]);
    assert_eq!(
        again["amount_due"], invoice["amount_due"],
        "no line was added twice"
    );
    let seen = fake.lock().unwrap().seen.clone();
    let keys: Vec<&str> = seen
        .iter()
        .take(4)
        .map(|seen| seen.idempotency_key.as_deref().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "exec-1:create_invoice:invoice",
            "exec-1:create_invoice:line0",
            "exec-1:create_invoice:line1",
            "exec-1:create_invoice:finalize"
        ]
    );
    assert_eq!(seen[0].fields["collection_method"], "send_invoice");
    assert_eq!(seen[0].fields["days_until_due"], 14);
    assert_eq!(seen[0].fields["pending_invoice_items_behavior"], "exclude");
    assert_eq!(seen[2].fields["unit_amount"], 2500);
    assert_eq!(seen[2].fields["quantity"], 12);

    let id = invoice["id"].as_str().unwrap();
    let sent = run(
        &registry,
        "stripe",
        "send_invoice",
        &json!({"invoice_id": id}),
    )
    .await;
    assert_eq!(sent["id"], invoice["id"]);

    let mut another = call(
        "create_invoice",
        json!({"customer_id": "cus_NffrFeUfNV2Hib", "currency": "EUR", "lines": [{"description": "Repair", "unit_amount": 8000}]}),
    );
    another.idempotency_key = "exec-2:create_invoice".into();
    let draft = registry.call(another).await.unwrap();
    common::assert_declared_output(&registry, "stripe", "create_invoice", &draft);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["number"], Value::Null);
    assert_eq!(draft["days_overdue"], Value::Null);
    let mut sending = call("send_invoice", json!({"invoice_id": draft["id"]}));
    sending.idempotency_key = "exec-2:send_invoice".into();
    let not_sendable = registry.call(sending).await.unwrap_err();
    assert_eq!(
        not_sendable.class,
        ErrorClass::Permanent,
        "Stripe said retrying will not help"
    );
    let mut finalizing = call("finalize_invoice", json!({"invoice_id": draft["id"]}));
    finalizing.idempotency_key = "exec-2:finalize".into();
    let finalized = registry.call(finalizing).await.unwrap();
    common::assert_declared_output(&registry, "stripe", "finalize_invoice", &finalized);
    assert_eq!(finalized["status"], "open");
    let read = run(
        &registry,
        "stripe",
        "get_invoice",
        &json!({"invoice_id": draft["id"]}),
    )
    .await;
    assert_eq!(read["amount_due_text"], "80.00 EUR");

    let no_lines = registry
        .call(call(
            "create_invoice",
            json!({"customer_id": "cus_NffrFeUfNV2Hib", "currency": "eur", "lines": []}),
        ))
        .await
        .unwrap_err();
    assert!(
        no_lines.message.contains("`lines` is empty"),
        "{}",
        no_lines.message
    );
    let mut unknown = call(
        "create_invoice",
        json!({"customer_id": "cus_nobody", "currency": "eur", "lines": [{"description": "x", "unit_amount": 1}]}),
    );
    unknown.idempotency_key = "exec-3:invoice".into();
    let unknown = registry.call(unknown).await.unwrap_err();
    assert!(
        unknown.message.contains("No such customer"),
        "{}",
        unknown.message
    );
}

#[tokio::test]
async fn overdue_invoices_are_the_open_ones_past_due_with_days_late() {
    let (registry, fake) = stripe().await;
    let overdue = run(&registry, "stripe", "list_overdue_invoices", &json!({})).await;
    assert_eq!(overdue["count"], 1, "{overdue}");
    let late = &overdue["invoices"][0];
    assert_eq!(late["id"], "in_overdue");
    assert_eq!(late["days_overdue"], 10);
    assert_eq!(late["amount_remaining_text"], "45.00 EUR");
    let seen = fake.lock().unwrap().seen.clone();
    assert_eq!(seen[0].operation, "get /v1/invoices");
    assert_eq!(seen[0].fields["status"], "open");
    assert!(
        seen[0].fields["due_date"]["lt"].is_i64(),
        "{:?}",
        seen[0].fields
    );
}

#[tokio::test]
async fn a_payment_link_is_made_for_an_amount_or_a_price() {
    let (registry, fake) = stripe().await;
    let link = run(
        &registry,
        "stripe",
        "create_payment_link",
        &common::example(&registry, "stripe", "create_payment_link"),
    )
    .await;
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .starts_with("https://buy.stripe.com/")
    );
    assert!(link["price_id"].as_str().unwrap().starts_with("price_"));
    let seen = fake.lock().unwrap().seen.clone();
    assert_eq!(seen[0].operation, "post /v1/prices");
    assert_eq!(seen[0].fields["unit_amount"], 9000);
    assert_eq!(
        seen[0].fields["product_data"]["name"],
        "Consultation (1 hour)"
    );
    assert_eq!(
        seen[1].fields["line_items"],
        json!([{"price": link["price_id"], "quantity": 1}])
    );

    let mut again = call(
        "create_payment_link",
        json!({"price_id": "price_1PgafmB7WZ01zgkW6dKueIc5", "quantity": 2, "after_payment_url": "https://acme.com/thanks"}),
    );
    again.idempotency_key = "exec-2:link".into();
    let for_price = registry.call(again).await.unwrap();
    assert_eq!(for_price["price_id"], "price_1PgafmB7WZ01zgkW6dKueIc5");
    let seen = fake.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 3, "no price made for an existing one");
    assert_eq!(
        seen[2].fields["after_completion"]["redirect"]["url"],
        "https://acme.com/thanks"
    );
    let both = registry
        .call(call(
            "create_payment_link",
            json!({"price_id": "price_1", "name": "x", "amount": 1, "currency": "eur"}),
        ))
        .await
        .unwrap_err();
    assert!(both.message.contains("not both"), "{}", both.message);
}

#[tokio::test]
async fn subscriptions_charges_and_refunds_are_read_and_made() {
    let (registry, _) = stripe().await;
    let subscriptions = run(
        &registry,
        "stripe",
        "list_subscriptions",
        &json!({"status": "past_due"}),
    )
    .await;
    assert_eq!(subscriptions["count"], 1);
    assert_eq!(subscriptions["subscriptions"][0]["status"], "past_due");
    let subscription = run(
        &registry,
        "stripe",
        "get_subscription",
        &common::example(&registry, "stripe", "get_subscription"),
    )
    .await;
    assert_eq!(subscription["customer_id"], "cus_NffrFeUfNV2Hib");
    assert!(
        subscription["current_period_end"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(subscription["items"][0]["interval"], "month");

    let charges = run(
        &registry,
        "stripe",
        "list_charges",
        &common::example(&registry, "stripe", "list_charges"),
    )
    .await;
    assert_eq!(charges["count"], 2);
    let charge = run(
        &registry,
        "stripe",
        "get_charge",
        &common::example(&registry, "stripe", "get_charge"),
    )
    .await;
    assert_eq!(charge["amount_text"], "49.00 EUR");
    assert_eq!(charge["paid"], true);

    let refund = run(
        &registry,
        "stripe",
        "create_refund",
        &common::example(&registry, "stripe", "create_refund"),
    )
    .await;
    assert_eq!(refund["amount"], 1500);
    assert_eq!(refund["amount_text"], "15.00 EUR");
    assert_eq!(refund["reason"], "requested_by_customer");
    let mut whole = call(
        "create_refund",
        json!({"charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15"}),
    );
    whole.idempotency_key = "exec-2:refund".into();
    assert_eq!(
        registry.call(whole).await.unwrap()["amount"],
        4900,
        "all of it when no amount is given"
    );
    let mut again = call("create_refund", json!({"charge_id": "ch_refunded"}));
    again.idempotency_key = "exec-3:refund".into();
    let done_already = registry.call(again).await.unwrap_err();
    assert_eq!(done_already.class, ErrorClass::Permanent);
    assert!(
        done_already.message.contains("charge_already_refunded"),
        "{}",
        done_already.message
    );
}

#[tokio::test]
async fn stripes_errors_are_sorted_for_the_retry_policy() {
    let (registry, _) = stripe().await;
    let limited = registry
        .call(call("create_customer", json!({"name": "rate limited"})))
        .await
        .unwrap_err();
    assert_eq!(limited.class, ErrorClass::Transient);
    let down = registry
        .call(call(
            "create_customer",
            json!({"description": "server trouble"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(down.class, ErrorClass::Transient);
    let mut revoked = call("get_customer", json!({"customer_id": "cus_NffrFeUfNV2Hib"}));
    revoked.secret = Some(Secret(json!({"api_key": "sk_test_revoked"})));
    let refused = registry.call(revoked).await.unwrap_err();
    assert_eq!(refused.auth, Some(AuthProblem::Refused));
    let mut restricted = call("get_customer", json!({"customer_id": "cus_NffrFeUfNV2Hib"}));
    restricted.secret = Some(Secret(json!({"api_key": "rk_test_invoices_only"})));
    assert!(registry.call(restricted).await.is_ok());
    let bad_param = registry
        .call(call(
            "create_customer",
            json!({"name": "x", "metadata": {"a": "b"}, "email": 5}),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_param.class, ErrorClass::Permanent);
    assert!(
        bad_param.message.contains("inputs"),
        "{}",
        bad_param.message
    );
}

#[tokio::test]
async fn a_key_is_checked_with_the_balance_and_a_publishable_key_is_refused_when_stored() {
    let (registry, _) = stripe().await;
    let full = registry
        .authenticate("stripe", &Secret(json!({"api_key": "sk_test_good"})))
        .await
        .unwrap();
    assert_eq!(
        full,
        json!({"mode": "test", "access": "full", "available": "1234.56 EUR, 500 JPY"})
    );
    let restricted = registry
        .authenticate(
            "stripe",
            &Secret(json!({"api_key": "rk_test_invoices_only"})),
        )
        .await
        .unwrap();
    assert_eq!(restricted, json!({"mode": "test", "access": "restricted"}));
    let revoked = registry
        .authenticate("stripe", &Secret(json!({"api_key": "sk_test_revoked"})))
        .await
        .unwrap_err();
    assert_eq!(revoked.auth, Some(AuthProblem::Refused));
    let (at, problem) = registry
        .secret_problem("stripe", &json!({"api_key": "pk_test_123"}))
        .unwrap();
    assert_eq!(at, ".api_key");
    assert!(problem.contains("publishable"), "{problem}");
    assert!(
        registry
            .secret_problem("stripe", &json!({"api_key": "rk_live_1"}))
            .is_none()
    );
}

/// Stripe's signature header for `body` at `timestamp` under `secret`.
fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={timestamp},v1={}",
        baton_connectors::webhook::hex_signature(secret, &signed)
    )
}

#[test]
fn stripe_signed_events_are_checked_with_their_timestamp_and_named_by_their_id() {
    let registry = Registry::new(&ConnectorSettings::default());
    let secret = "whsec_test_secret";
    let body = serde_json::to_vec(&fixture("event")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let incoming = |header: &str, secret: Option<&str>| {
        let headers = vec![("stripe-signature".to_owned(), header.to_owned())];
        registry.webhook(
            "stripe",
            &IncomingWebhook {
                method: "POST",
                url: "https://baton.example/hooks/abc",
                headers: &headers,
                body: &body,
                secret,
            },
        )
    };
    let signed = stripe_signature(secret, now, &body);
    match incoming(&signed, Some(secret)).unwrap() {
        WebhookOutcome::Run { delivery_id } => {
            assert_eq!(
                delivery_id.as_deref(),
                Some("stripe:evt_1Pgc76B7WZ01zgkWwyRHS12y")
            );
        }
        other => panic!("{other:?}"),
    }
    // A rolled secret: Stripe signs with both for a while, one v1 each.
    let rolled = format!(
        "{},v1={}",
        stripe_signature("whsec_old", now, &body),
        &signed.split("v1=").nth(1).unwrap()
    );
    assert!(incoming(&rolled, Some(secret)).is_ok());
    let forged = stripe_signature("whsec_other", now, &body);
    assert!(
        incoming(&forged, Some(secret))
            .unwrap_err()
            .contains("not signed")
    );
    let old = stripe_signature(secret, now - 600, &body);
    assert!(
        incoming(&old, Some(secret))
            .unwrap_err()
            .contains("5 minutes")
    );
    assert!(
        incoming(&signed, None)
            .unwrap_err()
            .contains("no signing secret")
    );
    let v0_only = signed.replace("v1=", "v0=");
    assert!(
        incoming(&v0_only, Some(secret)).is_err(),
        "only v1 signatures count"
    );
}
