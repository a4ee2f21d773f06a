//! What checking incoming webhooks shares: HMAC-SHA256 signatures, compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Whether `signature` (`PREFIX` then hex) is the HMAC-SHA256 of `message` under `secret`.
pub fn signature_matches(
    secret: &str,
    message: &[u8],
    signature: Option<&str>,
    prefix: &str,
) -> bool {
    let Some(given) = signature.and_then(|value| value.trim().strip_prefix(prefix)) else {
        return false;
    };
    let Ok(expected) = hex::decode(given) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(&expected).is_ok()
}

/// HMAC-SHA256 of `message` under `secret`, in hex: what a sender puts in a hex-signature
/// header (Asana's `X-Hook-Signature`, Stripe's `v1=`).
pub fn hex_signature(secret: &str, message: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a `t=TIMESTAMP,v1=HEX[,v1=HEX...]` signature header (Stripe's, Calendly's): one `v1`
/// must be the HMAC-SHA256 of `TIMESTAMP.BODY` under `secret`, and the timestamp (seconds)
/// within `tolerance_seconds` of now. `name` is the header as errors show it.
pub fn check_timestamped_signature(
    name: &str,
    header: Option<&str>,
    secret: &str,
    body: &[u8],
    tolerance_seconds: i64,
) -> Result<(), String> {
    let header = header.ok_or_else(|| format!("{name} is missing"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if timestamp.is_none() => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| format!("{name} has no timestamp (t=)"))?;
    if (chrono::Utc::now().timestamp() - timestamp).abs() > tolerance_seconds {
        return Err(format!(
            "{name}'s timestamp is more than {} minutes from now: a late or replayed delivery",
            tolerance_seconds / 60
        ));
    }
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    if signatures
        .iter()
        .any(|given| signature_matches(secret, &signed, Some(given), ""))
    {
        Ok(())
    } else {
        Err(format!(
            "the request is not signed with this hook's signing secret ({name} v1)"
        ))
    }
}

/// The delivery id of a call a service makes again with the same body when it saw no answer
/// (Asana, HubSpot name none): the body's digest, so the same delivery runs once.
pub fn body_delivery(service: &str, body: &[u8]) -> String {
    use sha2::Digest;
    format!("{service}:{}", hex::encode(Sha256::digest(body)))
}

/// The signing key of a Standard Webhooks secret: the bytes after `whsec_` (base64), or, for a
/// secret in another form, its text.
fn standard_key(secret: &str) -> Vec<u8> {
    use base64::Engine;
    secret
        .strip_prefix("whsec_")
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The Standard Webhooks signature (`v1,` and base64 of HMAC-SHA256 over
/// `ID.TIMESTAMP.BODY`), as a sender puts it in `webhook-signature`.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(&standard_key(secret))
        .expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Whether one of the space-separated `v1,` signatures in `header` signs `ID.TIMESTAMP.BODY`
/// under `secret` (Standard Webhooks; other versions are ignored). Compared in constant time.
pub fn standard_signature_matches(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    use base64::Engine;
    header.split_whitespace().any(|candidate| {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&standard_key(secret)) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standard_webhook_signature_covers_the_id_the_time_and_the_body() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1614265330;
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(standard_signature(secret, id, timestamp, body), expected);
        let header = format!("v1,bm90LWl0 {expected}");
        assert!(standard_signature_matches(
            secret, id, timestamp, body, &header
        ));
        assert!(!standard_signature_matches(
            secret,
            id,
            timestamp + 1,
            body,
            &header
        ));
        assert!(!standard_signature_matches(
            secret,
            "msg_other",
            timestamp,
            body,
            &header
        ));
        assert!(!standard_signature_matches(
            secret, id, timestamp, b"{}", &header
        ));
        assert!(!standard_signature_matches(
            secret, id, timestamp, body, "v2,abc"
        ));
    }

    #[test]
    fn a_signature_is_the_hmac_of_the_exact_body() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"{\"a\":1}");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let prefixed = format!("sha256={hex}");
        assert!(signature_matches(
            "key",
            b"{\"a\":1}",
            Some(&prefixed),
            "sha256="
        ));
        assert!(!signature_matches(
            "key",
            b"{\"a\":2}",
            Some(&prefixed),
            "sha256="
        ));
        assert!(!signature_matches(
            "other",
            b"{\"a\":1}",
            Some(&prefixed),
            "sha256="
        ));
        assert!(
            !signature_matches("key", b"{\"a\":1}", Some(&hex), "sha256="),
            "the scheme is required"
        );
        assert!(!signature_matches("key", b"{\"a\":1}", None, "sha256="));
    }
}
