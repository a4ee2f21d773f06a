//! `stripe`: customers, invoices, payment links, subscriptions, charges and refunds through
//! Stripe's API with a secret or restricted key (`{"api_key": "sk_..."}` or `rk_...`). Every
//! request names the API version this module was written against (`Stripe-Version`), so an
//! account's newer default cannot change the shapes it reads. Stripe takes form-encoded bodies
//! (`metadata[plan]=pro`, `line_items[0][price]=...`) and answers errors as
//! `{"error": {type, code, message, param}}`, with a `Stripe-Should-Retry` header that says
//! whether trying again can help; every write carries the step's idempotency key, so a
//! retried step charges, refunds or invoices once. Money stays in the currency's minor unit
//! (cents), as Stripe counts it, with the currency beside it and a `*_text` for people
//! (`12.50 EUR`). Stripe's webhook events are checked with `Stripe-Signature`.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_engine::StepError;
use baton_engine::connector::{ActionCall, IncomingWebhook, Secret, WebhookOutcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    ActionDeclaration, AuthKind, Category, Connector, Declaration, RateLimit, inputs, output_schema,
};

pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// The API version every request names (`Stripe-Version`).
pub const API_VERSION: &str = "2023-08-16";

/// How far an event's signed timestamp may be from now (Stripe's libraries' default).
const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// Currencies Stripe counts in whole units (an amount of 500 JPY is ¥500).
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
/// Currencies Stripe counts in thousandths.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// An amount in a currency's minor unit as people write it: `1250, "eur"` is `12.50 EUR`.
pub fn money_text(amount: i64, currency: &str) -> String {
    let currency = currency.to_ascii_lowercase();
    let decimals = if ZERO_DECIMAL.contains(&currency.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        3
    } else {
        2
    };
    let upper = currency.to_ascii_uppercase();
    if decimals == 0 {
        return format!("{amount} {upper}");
    }
    let scale = 10_i64.pow(decimals);
    let sign = if amount < 0 { "-" } else { "" };
    let whole = amount.unsigned_abs() / scale.unsigned_abs();
    let part = amount.unsigned_abs() % scale.unsigned_abs();
    format!(
        "{sign}{whole}.{part:0width$} {upper}",
        width = decimals as usize
    )
}

/// Fields a customer is made or changed with.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The customer's full name or business name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A note only the business sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Up to 50 keys with text values, kept with the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `update_customer`: the fields given change; the rest stay.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    /// `cus_...`
    #[serde(skip_serializing)]
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keys given are set; a key given an empty text is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `get_customer`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCustomer {
    pub customer_id: String,
}

/// `search_customers`: by email, or with Stripe's search syntax.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchCustomers {
    /// Customers with exactly this email.
    #[serde(default)]
    pub email: Option<String>,
    /// Stripe's search query, e.g. `name~'acme' AND metadata['plan']:'pro'`.
    #[serde(default)]
    pub query: Option<String>,
    /// At most this many (1 to 100; 10 when not given).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// How an invoice is paid.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// Stripe emails the invoice; the customer pays it by its due date.
    #[default]
    SendInvoice,
    /// Stripe charges the customer's saved payment method.
    ChargeAutomatically,
}

/// One line of an invoice.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLine {
    /// What the line is for, as the customer reads it.
    pub description: String,
    /// The price of one, in the currency's minor unit (cents): 2500 is 25.00. Negative for a
    /// credit.
    pub unit_amount: i64,
    /// How many (1 when not given).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub quantity: Option<u32>,
}

/// `create_invoice`: a draft invoice with its lines, finalized when asked.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoice {
    pub customer_id: String,
    /// Three letters, e.g. `eur`, `usd`.
    #[schemars(regex(pattern = r"^[A-Za-z]{3}$"))]
    pub currency: String,
    /// At least one line.
    #[schemars(length(min = 1, max = 250))]
    pub lines: Vec<InvoiceLine>,
    #[serde(default)]
    pub collection: Collection,
    /// Days the customer has to pay a sent invoice (30 when not given).
    #[serde(default)]
    #[schemars(range(min = 0, max = 365))]
    pub days_until_due: Option<u32>,
    /// A memo shown on the invoice.
    #[serde(default)]
    pub description: Option<String>,
    /// Finalize it (it gets its number and can be sent or paid); a draft otherwise.
    #[serde(default)]
    pub finalize: bool,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// An invoice's id, for `get_invoice`, `finalize_invoice` and `send_invoice`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceId {
    /// `in_...`
    pub invoice_id: String,
}

/// A list of all customers' or one's (`list_overdue_invoices`, `list_charges`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOf {
    /// Only this customer's.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// At most this many (1 to 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// `create_payment_link`: a page where anyone with the link pays: for an existing price, or
/// for an amount with a product name (the price is made).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentLink {
    /// An existing price, `price_...`; or give `name`, `amount` and `currency`.
    #[serde(default)]
    pub price_id: Option<String>,
    /// What is sold, as the buyer reads it.
    #[serde(default)]
    pub name: Option<String>,
    /// The price in the currency's minor unit (cents).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub amount: Option<i64>,
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z]{3}$"))]
    pub currency: Option<String>,
    /// How many (1 when not given).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub quantity: Option<u32>,
    /// Where the buyer goes after paying.
    #[serde(default)]
    pub after_payment_url: Option<String>,
}

/// A subscription's status, as a filter.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    PastDue,
    Unpaid,
    Canceled,
    Incomplete,
    IncompleteExpired,
    Trialing,
    Paused,
    Ended,
    All,
}

/// `list_subscriptions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSubscriptions {
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Only those in this state (all but canceled ones when not given).
    #[serde(default)]
    pub status: Option<SubscriptionStatus>,
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// `get_subscription`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSubscription {
    /// `sub_...`
    pub subscription_id: String,
}

/// `get_charge`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCharge {
    /// `ch_...` (or `py_...`)
    pub charge_id: String,
}

/// Why money goes back.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

/// `create_refund`: of a charge or a payment intent, all of it or part.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// `ch_...`; or give `payment_intent_id`.
    #[serde(default)]
    pub charge_id: Option<String>,
    /// `pi_...`
    #[serde(default)]
    pub payment_intent_id: Option<String>,
    /// How much, in the currency's minor unit; all that is left when not given.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub amount: Option<i64>,
    #[serde(default)]
    pub reason: Option<RefundReason>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

fn customer_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("email", nullable("string")),
        ("name", nullable("string")),
        ("phone", nullable("string")),
        ("description", nullable("string")),
        ("created", nullable("string")),
        ("metadata", json!({"type": "object"})),
    ])
}

fn invoice_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("number", nullable("string")),
        ("status", nullable("string")),
        ("customer_id", nullable("string")),
        ("customer_email", nullable("string")),
        ("customer_name", nullable("string")),
        ("currency", json!({"type": "string"})),
        ("total", json!({"type": "integer"})),
        ("amount_due", json!({"type": "integer"})),
        ("amount_paid", json!({"type": "integer"})),
        ("amount_remaining", json!({"type": "integer"})),
        ("amount_due_text", json!({"type": "string"})),
        ("amount_remaining_text", json!({"type": "string"})),
        ("due_date", nullable("string")),
        ("days_overdue", nullable("integer")),
        ("hosted_invoice_url", nullable("string")),
        ("invoice_pdf", nullable("string")),
        ("created", nullable("string")),
    ])
}

fn subscription_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("status", json!({"type": "string"})),
        ("customer_id", nullable("string")),
        ("current_period_end", nullable("string")),
        ("cancel_at_period_end", json!({"type": "boolean"})),
        ("canceled_at", nullable("string")),
        (
            "items",
            json!({"type": "array", "items": output_schema(&[
                ("price_id", nullable("string")),
                ("product_id", nullable("string")),
                ("quantity", nullable("integer")),
                ("unit_amount", nullable("integer")),
                ("currency", nullable("string")),
                ("interval", nullable("string")),
            ])}),
        ),
        ("created", nullable("string")),
    ])
}

fn charge_schema() -> Value {
    output_schema(&[
        ("id", json!({"type": "string"})),
        ("amount", json!({"type": "integer"})),
        ("amount_refunded", json!({"type": "integer"})),
        ("currency", json!({"type": "string"})),
        ("amount_text", json!({"type": "string"})),
        ("status", json!({"type": "string"})),
        ("paid", json!({"type": "boolean"})),
        ("refunded", json!({"type": "boolean"})),
        ("customer_id", nullable("string")),
        ("description", nullable("string")),
        ("receipt_email", nullable("string")),
        ("receipt_url", nullable("string")),
        ("payment_intent_id", nullable("string")),
        ("created", nullable("string")),
    ])
}

fn list_schema(field: &str, item: Value) -> Value {
    output_schema(&[
        (field, json!({"type": "array", "items": item})),
        ("count", json!({"type": "integer"})),
        ("has_more", json!({"type": "boolean"})),
    ])
}

static DECLARATION: LazyLock<Declaration> = LazyLock::new(|| Declaration {
    id: "stripe",
    name: "Stripe",
    category: Category::Business,
    auth: AuthKind::ApiKey,
    actions: vec![
        ActionDeclaration {
            id: "create_customer",
            description: "Add a customer: email, name, phone, a note, your own fields.",
            input_schema: schemars::schema_for!(CreateCustomer).to_value(),
            output_schema: customer_schema(),
            example: json!({"email": "ann@customer.com", "name": "Ann Lee", "metadata": {"source": "website"}}),
            writes: true,
        },
        ActionDeclaration {
            id: "get_customer",
            description: "Read a customer.",
            input_schema: schemars::schema_for!(GetCustomer).to_value(),
            output_schema: customer_schema(),
            example: json!({"customer_id": "cus_NffrFeUfNV2Hib"}),
            writes: false,
        },
        ActionDeclaration {
            id: "search_customers",
            description: "Find customers by email, or with Stripe's search syntax.",
            input_schema: schemars::schema_for!(SearchCustomers).to_value(),
            output_schema: list_schema("customers", customer_schema()),
            example: json!({"email": "ann@customer.com"}),
            writes: false,
        },
        ActionDeclaration {
            id: "update_customer",
            description: "Change a customer's email, name, phone, note or your own fields.",
            input_schema: schemars::schema_for!(UpdateCustomer).to_value(),
            output_schema: customer_schema(),
            example: json!({"customer_id": "cus_NffrFeUfNV2Hib", "phone": "+44 20 7946 0958", "metadata": {"plan": "pro"}}),
            writes: true,
        },
        ActionDeclaration {
            id: "create_invoice",
            description: "Make an invoice with its lines (amounts in cents), as a draft or finalized.",
            input_schema: schemars::schema_for!(CreateInvoice).to_value(),
            output_schema: invoice_schema(),
            example: json!({"customer_id": "cus_NffrFeUfNV2Hib", "currency": "eur", "lines": [{"description": "Website design", "unit_amount": 120000}, {"description": "Hosting (months)", "unit_amount": 2500, "quantity": 12}], "days_until_due": 14, "finalize": true}),
            writes: true,
        },
        ActionDeclaration {
            id: "finalize_invoice",
            description: "Finalize a draft invoice: it gets its number and can be paid.",
            input_schema: schemars::schema_for!(InvoiceId).to_value(),
            output_schema: invoice_schema(),
            example: json!({"invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv"}),
            writes: true,
        },
        ActionDeclaration {
            id: "send_invoice",
            description: "Email a finalized invoice to the customer.",
            input_schema: schemars::schema_for!(InvoiceId).to_value(),
            output_schema: invoice_schema(),
            example: json!({"invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv"}),
            writes: true,
        },
        ActionDeclaration {
            id: "get_invoice",
            description: "Read an invoice: status, amounts due and paid, due date, links.",
            input_schema: schemars::schema_for!(InvoiceId).to_value(),
            output_schema: invoice_schema(),
            example: json!({"invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv"}),
            writes: false,
        },
        ActionDeclaration {
            id: "list_overdue_invoices",
            description: "Open invoices past their due date, with how many days late.",
            input_schema: schemars::schema_for!(ListOf).to_value(),
            output_schema: list_schema("invoices", invoice_schema()),
            example: json!({"limit": 50}),
            writes: false,
        },
        ActionDeclaration {
            id: "create_payment_link",
            description: "Make a link anyone can pay through, for a price or an amount.",
            input_schema: schemars::schema_for!(CreatePaymentLink).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("url", json!({"type": "string"})),
                ("active", json!({"type": "boolean"})),
                ("price_id", json!({"type": "string"})),
            ]),
            example: json!({"name": "Consultation (1 hour)", "amount": 9000, "currency": "eur"}),
            writes: true,
        },
        ActionDeclaration {
            id: "list_subscriptions",
            description: "Subscriptions, of one customer or all, by status.",
            input_schema: schemars::schema_for!(ListSubscriptions).to_value(),
            output_schema: list_schema("subscriptions", subscription_schema()),
            example: json!({"status": "past_due"}),
            writes: false,
        },
        ActionDeclaration {
            id: "get_subscription",
            description: "Read a subscription: status, what it is for, when it renews.",
            input_schema: schemars::schema_for!(GetSubscription).to_value(),
            output_schema: subscription_schema(),
            example: json!({"subscription_id": "sub_1MowQVLkdIwHu7ixeRlqHVzs"}),
            writes: false,
        },
        ActionDeclaration {
            id: "list_charges",
            description: "Payments received, the newest first.",
            input_schema: schemars::schema_for!(ListOf).to_value(),
            output_schema: list_schema("charges", charge_schema()),
            example: json!({"customer_id": "cus_NffrFeUfNV2Hib", "limit": 10}),
            writes: false,
        },
        ActionDeclaration {
            id: "get_charge",
            description: "Read a payment: amount, refunded, receipt.",
            input_schema: schemars::schema_for!(GetCharge).to_value(),
            output_schema: charge_schema(),
            example: json!({"charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15"}),
            writes: false,
        },
        ActionDeclaration {
            id: "create_refund",
            description: "Give money back: all of a payment or part of it (in cents).",
            input_schema: schemars::schema_for!(CreateRefund).to_value(),
            output_schema: output_schema(&[
                ("id", json!({"type": "string"})),
                ("amount", json!({"type": "integer"})),
                ("currency", json!({"type": "string"})),
                ("amount_text", json!({"type": "string"})),
                ("status", nullable("string")),
                ("charge_id", nullable("string")),
                ("payment_intent_id", nullable("string")),
                ("reason", nullable("string")),
                ("created", nullable("string")),
            ]),
            example: json!({"charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "amount": 1500, "reason": "requested_by_customer"}),
            writes: true,
        },
    ],
    triggers: Vec::new(),
    // Stripe allows 100 operations a second in live mode and 25 in test mode: the lower one,
    // which a small business's workflows do not come near.
    rate_limit: Some(RateLimit {
        requests: 25,
        per: Duration::from_secs(1),
    }),
});

/// A JSON value as Stripe's form fields: objects as `key[field]`, lists as `key[0]`.
pub fn form_fields(value: &Value) -> Vec<(String, String)> {
    fn add(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(fields) => {
                for (name, inner) in fields {
                    let key = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}[{name}]")
                    };
                    add(&key, inner, out);
                }
            }
            Value::Array(items) => {
                for (index, inner) in items.iter().enumerate() {
                    add(&format!("{prefix}[{index}]"), inner, out);
                }
            }
            Value::Null => out.push((prefix.to_owned(), String::new())),
            Value::String(text) => out.push((prefix.to_owned(), text.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    add("", value, &mut out);
    out
}

/// A Unix time Stripe gave, as RFC 3339 (UTC), or null.
fn time(value: &Value) -> Value {
    value
        .as_i64()
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .map_or(Value::Null, |at| {
            Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
}

/// The id of an expandable field: the id itself, or the expanded object's.
fn id_of(value: &Value) -> Value {
    match value {
        Value::String(_) => value.clone(),
        Value::Object(fields) => fields.get("id").cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn amount(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

fn customer_out(customer: &Value) -> Value {
    json!({
        "id": customer["id"],
        "email": customer["email"],
        "name": customer["name"],
        "phone": customer["phone"],
        "description": customer["description"],
        "created": time(&customer["created"]),
        "metadata": customer["metadata"].as_object().cloned().unwrap_or_default(),
    })
}

fn invoice_out(invoice: &Value, now: i64) -> Value {
    let currency = invoice["currency"].as_str().unwrap_or_default();
    let due = invoice["due_date"].as_i64();
    let open = invoice["status"] == "open";
    let days_overdue = match due {
        Some(due) if open && due < now => json!((now - due) / 86_400),
        Some(_) if open => json!(0),
        _ => Value::Null,
    };
    json!({
        "id": invoice["id"],
        "number": invoice["number"],
        "status": invoice["status"],
        "customer_id": id_of(&invoice["customer"]),
        "customer_email": invoice["customer_email"],
        "customer_name": invoice["customer_name"],
        "currency": currency,
        "total": amount(&invoice["total"]),
        "amount_due": amount(&invoice["amount_due"]),
        "amount_paid": amount(&invoice["amount_paid"]),
        "amount_remaining": amount(&invoice["amount_remaining"]),
        "amount_due_text": money_text(amount(&invoice["amount_due"]), currency),
        "amount_remaining_text": money_text(amount(&invoice["amount_remaining"]), currency),
        "due_date": time(&invoice["due_date"]),
        "days_overdue": days_overdue,
        "hosted_invoice_url": invoice["hosted_invoice_url"],
        "invoice_pdf": invoice["invoice_pdf"],
        "created": time(&invoice["created"]),
    })
}

fn subscription_out(subscription: &Value) -> Value {
    let items: Vec<Value> = subscription["items"]["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let price = &item["price"];
                    json!({
                        "price_id": id_of(price),
                        "product_id": id_of(&price["product"]),
                        "quantity": item["quantity"],
                        "unit_amount": price["unit_amount"],
                        "currency": price["currency"],
                        "interval": price["recurring"]["interval"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": subscription["id"],
        "status": subscription["status"],
        "customer_id": id_of(&subscription["customer"]),
        "current_period_end": time(&subscription["current_period_end"]),
        "cancel_at_period_end": subscription["cancel_at_period_end"].as_bool().unwrap_or(false),
        "canceled_at": time(&subscription["canceled_at"]),
        "items": items,
        "created": time(&subscription["created"]),
    })
}

fn charge_out(charge: &Value) -> Value {
    let currency = charge["currency"].as_str().unwrap_or_default();
    json!({
        "id": charge["id"],
        "amount": amount(&charge["amount"]),
        "amount_refunded": amount(&charge["amount_refunded"]),
        "currency": currency,
        "amount_text": money_text(amount(&charge["amount"]), currency),
        "status": charge["status"],
        "paid": charge["paid"].as_bool().unwrap_or(false),
        "refunded": charge["refunded"].as_bool().unwrap_or(false),
        "customer_id": id_of(&charge["customer"]),
        "description": charge["description"],
        "receipt_email": charge["receipt_email"],
        "receipt_url": charge["receipt_url"],
        "payment_intent_id": id_of(&charge["payment_intent"]),
        "created": time(&charge["created"]),
    })
}

fn refund_out(refund: &Value) -> Value {
    let currency = refund["currency"].as_str().unwrap_or_default();
    json!({
        "id": refund["id"],
        "amount": amount(&refund["amount"]),
        "currency": currency,
        "amount_text": money_text(amount(&refund["amount"]), currency),
        "status": refund["status"],
        "charge_id": id_of(&refund["charge"]),
        "payment_intent_id": id_of(&refund["payment_intent"]),
        "reason": refund["reason"],
        "created": time(&refund["created"]),
    })
}

/// A list's items through `shape`, with how many and whether Stripe has more.
fn list_out(list: &Value, field: &str, shape: impl Fn(&Value) -> Value) -> Value {
    let items: Vec<Value> = list["data"]
        .as_array()
        .map(|items| items.iter().map(&shape).collect())
        .unwrap_or_default();
    json!({
        field: items,
        "count": items.len(),
        "has_more": list["has_more"].as_bool().unwrap_or(false),
    })
}

/// What Stripe answered, or the failure classified for the retry policy.
fn answered(
    what: &str,
    status: u16,
    should_retry: Option<bool>,
    body: Value,
) -> Result<Value, StepError> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let error = &body["error"];
    let kind = error["type"].as_str().unwrap_or_default();
    let code = error["code"].as_str().unwrap_or_default();
    let mut message = format!(
        "stripe answered HTTP {status} to {what}: {}",
        error["message"].as_str().unwrap_or("no reason given")
    );
    if let Some(param) = error["param"].as_str() {
        message.push_str(&format!(" (at `{param}`)"));
    }
    if !code.is_empty() {
        message.push_str(&format!(" [{code}]"));
    }
    if let Some(decline) = error["decline_code"].as_str() {
        message.push_str(&format!(" [declined: {decline}]"));
    }
    if status == 401 {
        return Err(StepError::unauthorized(format!(
            "{message} (check the stripe credential: the key may have been rolled or deleted)"
        )));
    }
    if status == 403 {
        return Err(StepError::permanent(format!(
            "{message}: this restricted key may not do this; give it the permission in Stripe's dashboard or use a secret key"
        )));
    }
    // Stripe says when trying again can help; without its word, by the status.
    let retry = should_retry.unwrap_or(matches!(status, 409 | 429 | 500..=599))
        || code == "lock_timeout"
        || kind == "api_error" && status >= 500;
    Err(if retry && kind != "idempotency_error" {
        StepError::transient(message)
    } else {
        StepError::permanent(message)
    })
}

fn key(secret: Option<&Secret>) -> Result<&str, StepError> {
    secret
        .and_then(|secret| secret.text("api_key"))
        .ok_or_else(|| {
            StepError::permanent(
                "there is no stripe credential: store one with `api_key` (a secret key, sk_..., or a restricted key, rk_...)",
            )
        })
}

/// A write's request: the step's idempotency key, with `part` when one step makes several.
fn idempotency(call: &ActionCall, part: &str) -> String {
    if part.is_empty() {
        call.idempotency_key.clone()
    } else {
        format!("{}:{part}", call.idempotency_key)
    }
}

pub struct Stripe {
    client: reqwest::Client,
    base_url: String,
}

impl Stripe {
    pub fn new(base_url: Option<&str>) -> Self {
        Self {
            client: crate::api_client(Duration::from_secs(60)),
            base_url: crate::base_url(base_url, DEFAULT_BASE_URL),
        }
    }

    /// The status, `Stripe-Should-Retry` and body of a request.
    async fn exchange(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<bool>, Value), StepError> {
        let response = request
            .header("Stripe-Version", API_VERSION)
            .send()
            .await
            .map_err(|error| {
                StepError::transient(format!("stripe could not be reached ({what}): {error}"))
            })?;
        let status = response.status().as_u16();
        let should_retry = response
            .headers()
            .get("stripe-should-retry")
            .and_then(|value| value.to_str().ok())
            .map(|value| value.eq_ignore_ascii_case("true"));
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Ok((status, should_retry, body))
    }

    async fn get(
        &self,
        what: &str,
        key: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Value, StepError> {
        let (status, retry, body) = self
            .exchange(
                what,
                self.client
                    .get(format!("{}{path}", self.base_url))
                    .bearer_auth(key)
                    .query(query),
            )
            .await?;
        answered(what, status, retry, body)
    }

    /// `GET /v1/{collection}/{id}`.
    async fn retrieve(
        &self,
        what: &str,
        key: &str,
        collection: &str,
        id: &str,
    ) -> Result<Value, StepError> {
        self.get(
            what,
            key,
            &format!("/v1/{collection}/{}", crate::segment(id)),
            &[],
        )
        .await
    }

    async fn post(
        &self,
        what: &str,
        key: &str,
        path: &str,
        fields: &Value,
        idempotency_key: &str,
    ) -> Result<Value, StepError> {
        let (status, retry, body) = self
            .exchange(
                what,
                self.client
                    .post(format!("{}{path}", self.base_url))
                    .bearer_auth(key)
                    .header("Idempotency-Key", idempotency_key)
                    .form(&form_fields(fields)),
            )
            .await?;
        answered(what, status, retry, body)
    }

    async fn create_invoice(&self, call: &ActionCall, key: &str) -> Result<Value, StepError> {
        let input: CreateInvoice = inputs(call)?;
        let currency = input.currency.to_ascii_lowercase();
        if input.lines.is_empty() {
            return Err(StepError::permanent(
                "stripe create_invoice inputs: `lines` is empty; give at least one line",
            ));
        }
        let mut fields = json!({
            "customer": input.customer_id,
            "currency": currency,
            "collection_method": input.collection,
            // Lines are added below; the customer's other pending items stay for later.
            "pending_invoice_items_behavior": "exclude",
            "auto_advance": false,
        });
        if input.collection == Collection::SendInvoice {
            fields["days_until_due"] = json!(input.days_until_due.unwrap_or(30));
        }
        if let Some(description) = &input.description {
            fields["description"] = json!(description);
        }
        if let Some(metadata) = &input.metadata {
            fields["metadata"] = json!(metadata);
        }
        let invoice = self
            .post(
                "invoices.create",
                key,
                "/v1/invoices",
                &fields,
                &idempotency(call, "invoice"),
            )
            .await?;
        let id = invoice["id"].as_str().unwrap_or_default().to_owned();
        for (index, line) in input.lines.iter().enumerate() {
            self.post(
                "invoiceitems.create",
                key,
                "/v1/invoiceitems",
                &json!({
                    "customer": invoice["customer"].as_str().unwrap_or(&input.customer_id),
                    "invoice": id,
                    "currency": currency,
                    "description": line.description,
                    "unit_amount": line.unit_amount,
                    "quantity": line.quantity.unwrap_or(1),
                }),
                &idempotency(call, &format!("line{index}")),
            )
            .await
            .map_err(|mut error| {
                error.message = format!("lines[{index}]: {}", error.message);
                error
            })?;
        }
        let path = format!("/v1/invoices/{}", crate::segment(&id));
        let invoice = if input.finalize {
            self.post(
                "invoices.finalize",
                key,
                &format!("{path}/finalize"),
                &json!({}),
                &idempotency(call, "finalize"),
            )
            .await?
        } else {
            self.get("invoices.retrieve", key, &path, &[]).await?
        };
        Ok(invoice_out(&invoice, chrono::Utc::now().timestamp()))
    }

    async fn create_payment_link(&self, call: &ActionCall, key: &str) -> Result<Value, StepError> {
        let input: CreatePaymentLink = inputs(call)?;
        let price = match (&input.price_id, &input.name, input.amount, &input.currency) {
            (Some(price), None, None, None) => price.clone(),
            (None, Some(name), Some(amount), Some(currency)) => {
                let price = self
                    .post(
                        "prices.create",
                        key,
                        "/v1/prices",
                        &json!({
                            "currency": currency.to_ascii_lowercase(),
                            "unit_amount": amount,
                            "product_data": {"name": name},
                        }),
                        &idempotency(call, "price"),
                    )
                    .await?;
                price["id"].as_str().unwrap_or_default().to_owned()
            }
            _ => {
                return Err(StepError::permanent(
                    "stripe create_payment_link inputs: give `price_id`, or `name`, `amount` and `currency` (not both)",
                ));
            }
        };
        let mut fields = json!({
            "line_items": [{"price": price, "quantity": input.quantity.unwrap_or(1)}],
        });
        if let Some(url) = &input.after_payment_url {
            fields["after_completion"] = json!({"type": "redirect", "redirect": {"url": url}});
        }
        let link = self
            .post(
                "payment_links.create",
                key,
                "/v1/payment_links",
                &fields,
                &idempotency(call, "link"),
            )
            .await?;
        Ok(json!({
            "id": link["id"],
            "url": link["url"],
            "active": link["active"].as_bool().unwrap_or(false),
            "price_id": price,
        }))
    }
}

/// `limit` as a query field.
fn limit(query: &mut Vec<(String, String)>, limit: Option<u32>, default: u32) {
    query.push((
        "limit".into(),
        limit.unwrap_or(default).clamp(1, 100).to_string(),
    ));
}

#[async_trait]
impl Connector for Stripe {
    fn declaration(&self) -> &Declaration {
        &DECLARATION
    }

    fn base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }

    /// A publishable key (`pk_`) cannot call the API: said when the credential is stored.
    fn secret_problem(&self, secret: &Value) -> Option<(String, String)> {
        let key = secret.get("api_key")?.as_str()?.trim();
        if key.starts_with("pk_") {
            return Some((
                ".api_key".into(),
                "this is a publishable key (pk_...), which cannot call Stripe's API: give the secret key (sk_...) or a restricted key (rk_...)".into(),
            ));
        }
        if key.starts_with("whsec_") {
            return Some((
                ".api_key".into(),
                "this is a webhook signing secret (whsec_...): give it to the workflow's hook, and here the secret key (sk_...) or a restricted key (rk_...)".into(),
            ));
        }
        None
    }

    async fn call(&self, call: &ActionCall) -> Result<Value, StepError> {
        let key = key(call.secret.as_ref())?;
        match call.action.as_str() {
            "create_customer" => {
                let input: CreateCustomer = inputs(call)?;
                let customer = self
                    .post(
                        "customers.create",
                        key,
                        "/v1/customers",
                        &json!(input),
                        &idempotency(call, ""),
                    )
                    .await?;
                Ok(customer_out(&customer))
            }
            "get_customer" => {
                let input: GetCustomer = inputs(call)?;
                let customer = self
                    .retrieve("customers.retrieve", key, "customers", &input.customer_id)
                    .await?;
                if customer["deleted"] == true {
                    return Err(StepError::permanent(format!(
                        "stripe customer {} was deleted",
                        input.customer_id
                    )));
                }
                Ok(customer_out(&customer))
            }
            "search_customers" => {
                let input: SearchCustomers = inputs(call)?;
                let query = match (&input.email, &input.query) {
                    (Some(email), None) => format!(
                        "email:'{}'",
                        email.trim().replace('\\', "\\\\").replace('\'', "\\'")
                    ),
                    (None, Some(query)) => query.clone(),
                    _ => {
                        return Err(StepError::permanent(
                            "stripe search_customers inputs: give `email` or `query` (one of them)",
                        ));
                    }
                };
                let mut fields = vec![("query".to_owned(), query)];
                limit(&mut fields, input.limit, 10);
                let found = self
                    .get("customers.search", key, "/v1/customers/search", &fields)
                    .await?;
                Ok(list_out(&found, "customers", customer_out))
            }
            "update_customer" => {
                let input: UpdateCustomer = inputs(call)?;
                let customer = self
                    .post(
                        "customers.update",
                        key,
                        &format!("/v1/customers/{}", crate::segment(&input.customer_id)),
                        &json!(input),
                        &idempotency(call, ""),
                    )
                    .await?;
                Ok(customer_out(&customer))
            }
            "create_invoice" => self.create_invoice(call, key).await,
            "finalize_invoice" | "send_invoice" | "get_invoice" => {
                let input: InvoiceId = inputs(call)?;
                let path = format!("/v1/invoices/{}", crate::segment(&input.invoice_id));
                let invoice = match call.action.as_str() {
                    "finalize_invoice" => {
                        self.post(
                            "invoices.finalize",
                            key,
                            &format!("{path}/finalize"),
                            &json!({}),
                            &idempotency(call, ""),
                        )
                        .await?
                    }
                    "send_invoice" => {
                        self.post(
                            "invoices.send",
                            key,
                            &format!("{path}/send"),
                            &json!({}),
                            &idempotency(call, ""),
                        )
                        .await?
                    }
                    _ => self.get("invoices.retrieve", key, &path, &[]).await?,
                };
                Ok(invoice_out(&invoice, chrono::Utc::now().timestamp()))
            }
            "list_overdue_invoices" => {
                let input: ListOf = inputs(call)?;
                let now = chrono::Utc::now().timestamp();
                let mut query = vec![
                    ("status".to_owned(), "open".to_owned()),
                    ("due_date[lt]".to_owned(), now.to_string()),
                ];
                if let Some(customer) = input.customer_id {
                    query.push(("customer".into(), customer));
                }
                limit(&mut query, input.limit, 100);
                let list = self
                    .get("invoices.list", key, "/v1/invoices", &query)
                    .await?;
                Ok(list_out(&list, "invoices", |invoice| {
                    invoice_out(invoice, now)
                }))
            }
            "create_payment_link" => self.create_payment_link(call, key).await,
            "list_subscriptions" => {
                let input: ListSubscriptions = inputs(call)?;
                let mut query = Vec::new();
                if let Some(customer) = input.customer_id {
                    query.push(("customer".to_owned(), customer));
                }
                if let Some(status) = input.status {
                    query.push((
                        "status".to_owned(),
                        json!(status).as_str().unwrap_or_default().to_owned(),
                    ));
                }
                limit(&mut query, input.limit, 100);
                let list = self
                    .get("subscriptions.list", key, "/v1/subscriptions", &query)
                    .await?;
                Ok(list_out(&list, "subscriptions", subscription_out))
            }
            "get_subscription" => {
                let input: GetSubscription = inputs(call)?;
                let subscription = self
                    .retrieve(
                        "subscriptions.retrieve",
                        key,
                        "subscriptions",
                        &input.subscription_id,
                    )
                    .await?;
                Ok(subscription_out(&subscription))
            }
            "list_charges" => {
                let input: ListOf = inputs(call)?;
                let mut query = Vec::new();
                if let Some(customer) = input.customer_id {
                    query.push(("customer".to_owned(), customer));
                }
                limit(&mut query, input.limit, 10);
                let list = self.get("charges.list", key, "/v1/charges", &query).await?;
                Ok(list_out(&list, "charges", charge_out))
            }
            "get_charge" => {
                let input: GetCharge = inputs(call)?;
                let charge = self
                    .retrieve("charges.retrieve", key, "charges", &input.charge_id)
                    .await?;
                Ok(charge_out(&charge))
            }
            "create_refund" => {
                let input: CreateRefund = inputs(call)?;
                let mut fields = match (&input.charge_id, &input.payment_intent_id) {
                    (Some(charge), None) => json!({"charge": charge}),
                    (None, Some(intent)) => json!({"payment_intent": intent}),
                    _ => {
                        return Err(StepError::permanent(
                            "stripe create_refund inputs: give `charge_id` or `payment_intent_id` (one of them)",
                        ));
                    }
                };
                if let Some(amount) = input.amount {
                    fields["amount"] = json!(amount);
                }
                if let Some(reason) = input.reason {
                    fields["reason"] = json!(reason);
                }
                if let Some(metadata) = &input.metadata {
                    fields["metadata"] = json!(metadata);
                }
                let refund = self
                    .post(
                        "refunds.create",
                        key,
                        "/v1/refunds",
                        &fields,
                        &idempotency(call, ""),
                    )
                    .await?;
                Ok(refund_out(&refund))
            }
            other => Err(StepError::permanent(format!(
                "stripe has no action {other:?}"
            ))),
        }
    }

    /// `Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX...]`: HMAC-SHA256 of `TIMESTAMP.BODY`
    /// under the endpoint's signing secret, the timestamp within five minutes; an event Stripe
    /// sends again (same `evt_` id) runs once.
    fn webhook(&self, incoming: &IncomingWebhook<'_>) -> Result<WebhookOutcome, String> {
        let secret = incoming.secret.ok_or(
            "this hook checks Stripe's signatures but has no signing secret: copy the \
             endpoint's signing secret (whsec_...) from Stripe (Developers, Webhooks) and set it \
             with PUT /api/v1/workflows/{id}/hook/secret {\"secret\": \"...\"}",
        )?;
        crate::webhook::check_timestamped_signature(
            "Stripe-Signature",
            incoming.header("stripe-signature"),
            secret,
            incoming.body,
            SIGNATURE_TOLERANCE_SECONDS,
        )?;
        let event: Value = serde_json::from_slice(incoming.body).unwrap_or_default();
        Ok(WebhookOutcome::Run {
            delivery_id: event["id"].as_str().map(|id| format!("stripe:{id}")),
        })
    }

    /// `GET /v1/balance`: the account's balance in each currency. A restricted key without
    /// balance access is refused with 403, which still proves it is a live key.
    async fn authenticate(&self, secret: &Secret) -> Result<Value, StepError> {
        let key = key(Some(secret))?;
        let mode = if key.contains("_test_") {
            "test"
        } else {
            "live"
        };
        let (status, retry, body) = self
            .exchange(
                "balance.retrieve",
                self.client
                    .get(format!("{}/v1/balance", self.base_url))
                    .bearer_auth(key),
            )
            .await?;
        if status == 403 {
            return Ok(json!({"mode": mode, "access": "restricted"}));
        }
        let balance = answered("balance.retrieve", status, retry, body)?;
        let available: Vec<String> = balance["available"]
            .as_array()
            .map(|funds| {
                funds
                    .iter()
                    .map(|fund| {
                        money_text(
                            amount(&fund["amount"]),
                            fund["currency"].as_str().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({
            "mode": if balance["livemode"] == true { "live" } else { mode },
            "access": if key.starts_with("rk_") { "restricted" } else { "full" },
            "available": available.join(", "),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_in_the_currencys_own_unit() {
        assert_eq!(money_text(1250, "eur"), "12.50 EUR");
        assert_eq!(money_text(5, "usd"), "0.05 USD");
        assert_eq!(money_text(-1999, "gbp"), "-19.99 GBP");
        assert_eq!(money_text(500, "JPY"), "500 JPY");
        assert_eq!(money_text(1234, "kwd"), "1.234 KWD");
    }

    #[test]
    fn nested_fields_are_sent_as_stripe_reads_forms() {
        let fields = form_fields(&json!({
            "customer": "cus_1",
            "metadata": {"plan": "pro"},
            "line_items": [{"price": "price_1", "quantity": 2}],
            "auto_advance": false,
            "description": null,
        }));
        assert_eq!(
            fields,
            [
                ("auto_advance", "false"),
                ("customer", "cus_1"),
                ("description", ""),
                ("line_items[0][price]", "price_1"),
                ("line_items[0][quantity]", "2"),
                ("metadata[plan]", "pro"),
            ]
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
        );
    }
}
