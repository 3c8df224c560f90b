//! URL detection: `http(s)://…`, `www.…`, bare domains with a known top-level domain
//! (`bit.ly/x`, `wa.me/91…`, `example.co.in`) or with a path whatever their top-level domain
//! (`yono-sbi.help/login`), IPv4 hosts (`http://103.21.4.5/…`, or bare with a
//! path), and internationalised hosts written with a scheme or `www.` (`https://sbі.com`, with
//! a Cyrillic `і`), whose host is kept as written, for link-safety checks.

/// A URL found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlMatch {
    /// The URL as written (surrounding punctuation trimmed).
    pub url: String,
    /// Its host, lower-cased, without a leading `www.`.
    pub host: String,
    /// Byte offset of the URL in the text.
    pub start: usize,
    /// Byte offset just past the URL.
    pub end: usize,
}

/// Top-level domains recognised in bare domains (without a scheme or `www.`).
const TLDS: &[&str] = &[
    "com", "net", "org", "in", "co", "io", "ly", "me", "info", "biz", "xyz", "top", "site",
    "online", "app", "link", "club", "shop", "store", "live", "gd", "gl", "at", "cc", "tk", "ml",
    "ga", "cf", "gq", "ru", "cn", "uk", "us", "tv", "ai", "to", "su", "win", "bid", "loan",
    "click", "work", "vip", "icu", "buzz", "fun", "space", "website", "pw", "help", "support",
    "cfd", "sbs", "bond", "cyou", "rest", "lat", "pro", "today", "cloud", "tech", "mobi", "asia",
];

/// Find URLs in `text`.
pub fn find_urls(text: &str) -> Vec<UrlMatch> {
    let mut found = Vec::new();
    let mut offset = 0;
    for token in text.split(|c: char| c.is_whitespace()) {
        let token_start = offset;
        offset += token.len() + 1;
        let trimmed_front = token.trim_start_matches(|c: char| "([{<\"'".contains(c));
        let lead = token.len() - trimmed_front.len();
        let candidate = trimmed_front.trim_end_matches(|c: char| ".,;:!?)]}>\"'".contains(c));
        // Every host has a dot (names and IPv4 alike): most words are ruled out here, before
        // any copy is made.
        if !candidate.contains('.') || candidate.contains('@') {
            continue;
        }
        if let Some(host) = host_of(candidate) {
            let start = token_start + lead;
            found.push(UrlMatch {
                url: candidate.to_owned(),
                host,
                start,
                end: start + candidate.len(),
            });
        }
    }
    found
}

fn host_of(candidate: &str) -> Option<String> {
    let lower = candidate.to_ascii_lowercase();
    let (rest, explicit) = if let Some(r) = lower.strip_prefix("https://") {
        (r, true)
    } else if let Some(r) = lower.strip_prefix("http://") {
        (r, true)
    } else {
        (lower.as_str(), false)
    };
    let host_part = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default();
    let host = host_part.strip_prefix("www.").unwrap_or(host_part);
    let www = host.len() != host_part.len();
    let labels: Vec<&str> = host.split('.').collect();
    let has_path = rest.len() > host_part.len();
    if is_ipv4(&labels) {
        return (explicit || has_path).then(|| host.to_owned());
    }
    let unicode = (explicit || www) && !host.is_ascii();
    let well_formed = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().all(|c| {
                    c.is_ascii_alphanumeric() || c == '-' || (unicode && c.is_alphanumeric())
                })
        });
    if !well_formed {
        return None;
    }
    let tld = labels.last().copied().unwrap_or_default();
    let tld_ok = tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2;
    let named = labels[0].chars().any(|c| c.is_ascii_alphabetic());
    let known = TLDS.contains(&tld) && named;
    // A bare name with a path (`yono-sbi.help/login`) is a link whatever its top-level domain:
    // new ones appear every year, and phishing favours them.
    let pathed = has_path && named && labels[0].len() >= 2;
    (tld_ok && (explicit || www || known || pathed)).then(|| host.to_lowercase())
}

fn is_ipv4(labels: &[&str]) -> bool {
    labels.len() == 4
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 3
                && l.chars().all(|c| c.is_ascii_digit())
                && l.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(text: &str) -> Vec<String> {
        find_urls(text).into_iter().map(|u| u.host).collect()
    }

    #[test]
    fn finds_schemes_www_and_bare_domains() {
        assert_eq!(hosts("see https://Example.org/x?y=1."), ["example.org"]);
        assert_eq!(hosts("go to www.shop.co.in now"), ["shop.co.in"]);
        assert_eq!(hosts("(bit.ly/abc)"), ["bit.ly"]);
        assert_eq!(hosts("chat wa.me/919876543210"), ["wa.me"]);
        assert_eq!(hosts("pls submit at yono-sbi.help now"), ["yono-sbi.help"]);
        assert_eq!(
            hosts("visit kyc-update.verify/login"),
            ["kyc-update.verify"]
        );
    }

    #[test]
    fn finds_ip_hosts_and_unicode_hosts() {
        assert_eq!(hosts("open http://103.21.4.5/kyc now"), ["103.21.4.5"]);
        assert_eq!(hosts("open 45.79.1.2/login"), ["45.79.1.2"]);
        assert!(hosts("version 1.2.3.4 released").is_empty());
        assert_eq!(hosts("https://sbі.com/x"), ["sbі.com"]);
        assert!(hosts("नमस्ते.भारत").is_empty());
    }

    #[test]
    fn ignores_emails_numbers_and_abbreviations() {
        assert!(hosts("mail me at a@b.com").is_empty());
        assert!(hosts("price 3.50 e.g. i.e. Mr.Sharma").is_empty());
        assert!(hosts("Rs.500/- per bag, 1.5kg/pack, A/c no. 1234/5").is_empty());
    }

    #[test]
    fn spans_are_byte_offsets() {
        let text = "→ visit bit.ly/x!";
        let u = &find_urls(text)[0];
        assert_eq!(&text[u.start..u.end], "bit.ly/x");
    }
}
