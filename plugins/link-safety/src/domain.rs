//! Domain names: the registered domain (`a.b.example.co.in` → `example.co.in`), the words of a
//! host (`hdfcbank-secure.co` → `hdfcbank`, `secure`, `co`), and IP hosts.

/// Second-level suffixes under which names are registered one level deeper.
const SECOND_LEVEL: &[&str] = &[
    "co.in", "net.in", "org.in", "gov.in", "ac.in", "nic.in", "res.in", "edu.in", "firm.in",
    "gen.in", "ind.in", "co.uk", "org.uk", "com.au", "co.za",
];

/// The registrable part of a host.
pub fn registered_domain(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    let keep = if labels.len() >= 3
        && SECOND_LEVEL.contains(&labels[labels.len() - 2..].join(".").as_str())
    {
        3
    } else {
        2
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

/// Words of a host: split on dots, hyphens and digits.
pub fn tokens(host: &str) -> impl Iterator<Item = &str> {
    host.split(|c: char| c == '.' || c == '-' || c.is_ascii_digit())
        .filter(|t| !t.is_empty())
}

/// Whether the host is an IPv4 address.
pub fn is_ip(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok())
}

/// Whether `host` is `domain` or a subdomain of it.
pub fn is_within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_domains_and_tokens() {
        assert_eq!(registered_domain("a.b.example.co.in"), "example.co.in");
        assert_eq!(registered_domain("secure.hdfcbank.com"), "hdfcbank.com");
        assert_eq!(registered_domain("bit.ly"), "bit.ly");
        let t: Vec<_> = tokens("hdfcbank-secure2.co").collect();
        assert_eq!(t, ["hdfcbank", "secure", "co"]);
        assert!(is_ip("103.21.4.5") && !is_ip("103.21.4.500"));
        assert!(is_within("netbanking.hdfcbank.com", "hdfcbank.com"));
        assert!(!is_within("fakehdfcbank.com", "hdfcbank.com"));
    }
}
