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

#[cfg(test)]
mod tests {
    use super::*;

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
