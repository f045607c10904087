//! The production guard: a run drives pre-production only, judged by its environment label
//! and by the target's host.

/// Words that make an environment label production (any case, as a word of the label, with
/// or without a number: `prod`, `eu-prod`, `live2`); `pre-prod` and `preprod` are not.
pub const PRODUCTION_WORDS: &[&str] = &["prod", "production", "live", "prd"];

/// Whether `label` names a production environment.
pub fn is_production_label(label: &str) -> bool {
    let lower = label.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        let word = w.trim_end_matches(|c: char| c.is_ascii_digit());
        PRODUCTION_WORDS.contains(&word) && (i == 0 || words[i - 1] != "pre")
    })
}

/// Whether `host` may be driven: it matches one of `allowed` (globs, e.g.
/// `*.staging.example.com`) or is a loopback address.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_lowercase();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback
        || allowed.iter().any(|g| {
            globset::Glob::new(&g.to_lowercase())
                .map(|g| g.compile_matcher().is_match(&host))
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_labels_are_judged_by_their_words() {
        for label in [
            "stg",
            "staging-eu",
            "pre-prod",
            "preprod",
            "uat2",
            "perf-test",
            "load-test",
            "QA",
        ] {
            assert!(!is_production_label(label), "{label} is pre-production");
        }
        for label in ["prod", "Production", "eu-prod", "live2", "PRD", "prod_eu"] {
            assert!(is_production_label(label), "{label} is production");
        }
    }

    #[test]
    fn hosts_are_allowed_by_glob_and_loopback_always() {
        let allowed = vec!["*.staging.example.com".to_string(), "odoo-stg".to_string()];
        assert!(host_allowed("erp.staging.example.com", &allowed));
        assert!(host_allowed("ODOO-STG", &allowed));
        assert!(host_allowed("127.0.0.1", &allowed));
        assert!(host_allowed("[::1]", &[]));
        assert!(host_allowed("localhost", &[]));
        assert!(!host_allowed("erp.example.com", &allowed));
        assert!(!host_allowed("staging.example.com.evil.net", &allowed));
    }
}
