//! Masking for the logs: an email address shows its first letter and its domain only.

/// `ann@example.com` → `a***@example.com`.
pub fn email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().unwrap_or('*');
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_email_keeps_only_its_first_letter_and_domain() {
        assert_eq!(super::email("ann@example.com"), "a***@example.com");
        assert_eq!(super::email("not-an-email"), "***");
    }
}
