//! Secrets out of everything peakgate writes or prints: URLs shown without their password,
//! and any text (a target's error message, a probe's error) scrubbed of the configured secret
//! values.
//!
//! A URL's user info is taken the way the clients take it: everything between `//` and the
//! **last** `@` (tokio-postgres and redis split there), so a password holding `#`, `?`, `/` or
//! `@` is still found. Query parameters named `password` are parsed with the `url` crate.

/// Where a URL's user info ends, as the clients read it: the last `@` after `//` (without a
/// scheme, anything before an `@` is taken for user info: `admin:pw@host` hides its password).
fn userinfo_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let at = url[start..].rfind('@')? + start;
    Some((start, at))
}

/// The password in a URL's user info or in a `password=` query parameter, as given and
/// percent-decoded.
pub fn url_passwords(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((start, at)) = userinfo_span(url)
        && let Some((_, pw)) = url[start..at].split_once(':')
        && !pw.is_empty()
    {
        out.push(pw.to_string());
        out.push(percent_decode(pw));
    }
    let rest = userinfo_span(url).map_or(url, |(_, at)| &url[at..]);
    if let Some((_, query)) = rest.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if k.eq_ignore_ascii_case("password") && !v.is_empty() {
                out.push(v.to_string());
            }
        }
        // The raw (still encoded) form too: it is what a URL shown as given would carry.
        for pair in query.split('&') {
            if let Some((k, v)) = pair.split_once('=')
                && k.eq_ignore_ascii_case("password")
                && !v.is_empty()
            {
                out.push(v.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `%XX` escapes decoded, as the clients decode user info.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The URL as it may be shown: the user info's password and any `password=` parameter
/// replaced by `***`, the user name kept.
pub fn redact_url(url: &str) -> String {
    let mut shown = match userinfo_span(url) {
        Some((start, at)) => {
            let user = url[start..at].split_once(':').map(|(u, _)| u);
            match user {
                Some(u) => format!("{}{u}:***{}", &url[..start], &url[at..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    for pw in url_passwords(url) {
        shown = shown.replace(&pw, "***");
    }
    shown
}

/// Removes configured secret values from text that came from elsewhere (a target's error
/// message may echo the request's parameters, a driver's error its connection string).
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// Scrubs `secrets`. One shorter than 3 characters is replaced only when it is the whole
    /// text: inside other text it would blank ordinary words.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Scrubber {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber { secrets }
    }

    /// Adds the passwords of `url`.
    pub fn with_url(mut self, url: &str) -> Scrubber {
        self.secrets.extend(url_passwords(url));
        Scrubber::new(self.secrets)
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if s.len() >= 3 || out == *s {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_with_url_delimiters_is_redacted_as_the_clients_parse_it() {
        for pw in [
            "S3cr3t#XYZ-123",
            "S3cr3t?XYZ-123",
            "S3cr3t/XYZ-123",
            "p@ss:w0rd",
        ] {
            let url = format!("postgres://postgres:{pw}@127.0.0.1:5432/db");
            let shown = redact_url(&url);
            assert!(!shown.contains(pw), "{shown}");
            assert_eq!(shown, "postgres://postgres:***@127.0.0.1:5432/db");
        }
        assert_eq!(
            redact_url("redis://:s3cret@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redact_url("postgres://db/retail?password=s%23cret&user=odoo"),
            "postgres://db/retail?password=***&user=odoo"
        );
        assert_eq!(
            redact_url("http://traefik:8082/metrics"),
            "http://traefik:8082/metrics"
        );
        assert_eq!(redact_url("admin:pw@odoo:8069"), "admin:***@odoo:8069");
    }

    #[test]
    fn echoed_secrets_are_scrubbed_from_messages() {
        let s = Scrubber::new(["hunter22".to_string()]).with_url("postgres://u:pa%23ss@h/db");
        assert_eq!(
            s.scrub("Access denied for hunter22 (pa#ss, pa%23ss)"),
            "Access denied for *** (***, ***)"
        );
    }
}
