//! Annotations in the plan: `[annotations.grafana]` checked and resolved (URL and token read
//! from their environment variables), ready for the run to post.

use std::time::Duration;

use super::Secret;
use crate::config::ConfigError;
use crate::config::annotations::GrafanaFile;
use crate::config::profile::{ProfileSource, parse_duration};

/// The variable the Grafana token is read from when `token_env` is not given.
pub const DEFAULT_TOKEN_ENV: &str = "PEAKGATE_GRAFANA_TOKEN";
/// Longest one annotation request may take when `timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `timeout` accepted: an annotation must never hold a run's end for long.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// `[annotations.grafana]`, resolved.
#[derive(Debug, Clone)]
pub struct GrafanaSpec {
    /// Grafana's base URL without a trailing `/` (a sub-path such as `/grafana` kept); it
    /// never holds credentials.
    pub url: String,
    /// The dashboard the region belongs to; `None`: an organization annotation.
    pub dashboard_uid: Option<String>,
    /// The panel of that dashboard.
    pub panel_id: Option<u64>,
    /// Tags added to peakgate's own, in the profile's order.
    pub tags: Vec<String>,
    /// The variable the token is read from (shown in messages, never its value).
    pub token_env: String,
    /// The service account token; `None` when the variable is not set: then nothing is sent
    /// and the run warns.
    pub token: Option<Secret>,
    /// Longest one request may take.
    pub timeout: Duration,
}

/// The profile's `[annotations.grafana]`, if it has one.
pub fn build(src: &ProfileSource) -> Result<Option<GrafanaSpec>, ConfigError> {
    let Some(section) = &src.file.annotations.grafana else {
        return Ok(None);
    };
    let f: &GrafanaFile = section.get_ref();
    let url = match (&f.url, &f.url_env) {
        (Some(_), Some(e)) => {
            return Err(src.error_at(
                e,
                "[annotations.grafana] takes `url` or `url_env`, not both",
            ));
        }
        (None, None) => {
            return Err(src.error_at(
                section,
                "[annotations.grafana] needs `url` or `url_env` (the name of a variable holding it)",
            ));
        }
        (Some(u), None) => check_url(u.get_ref()).map_err(|e| src.error_at(u, e))?,
        (None, Some(var)) => {
            let Ok(value) = std::env::var(var.get_ref()) else {
                return Err(src.error_at(
                    var,
                    format!(
                        "environment variable `{}` (url_env of [annotations.grafana]) is not set",
                        var.get_ref()
                    ),
                ));
            };
            check_url(&value)
                .map_err(|e| src.error_at(var, format!("the URL in `{}`: {e}", var.get_ref())))?
        }
    };
    let dashboard_uid = match &f.dashboard_uid {
        Some(uid) if uid.get_ref().trim().is_empty() => {
            return Err(src.error_at(uid, "`dashboard_uid` is empty"));
        }
        Some(uid) => Some(uid.get_ref().trim().to_string()),
        None => None,
    };
    let panel_id = match &f.panel_id {
        Some(p) if *p.get_ref() < 0 => {
            return Err(src.error_at(p, "`panel_id` must be 0 or more"));
        }
        Some(p) => {
            if dashboard_uid.is_none() {
                return Err(src.error_at(
                    p,
                    "`panel_id` names a panel of a dashboard: set `dashboard_uid` too",
                ));
            }
            Some(*p.get_ref() as u64)
        }
        None => None,
    };
    let mut tags: Vec<String> = Vec::new();
    for t in &f.tags {
        let tag = t.get_ref().trim();
        if tag.is_empty() {
            return Err(src.error_at(t, "a tag is empty"));
        }
        if tags.iter().any(|o| o == tag) {
            return Err(src.error_at(t, format!("tag `{tag}` is listed twice")));
        }
        tags.push(tag.to_string());
    }
    let token_env = f
        .token_env
        .as_ref()
        .map_or(DEFAULT_TOKEN_ENV.to_string(), |v| v.get_ref().clone());
    if let Some(v) = &f.token_env
        && v.get_ref().trim().is_empty()
    {
        return Err(src.error_at(v, "`token_env` names no variable"));
    }
    let token = std::env::var(&token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let timeout = match &f.timeout {
        Some(t) => {
            let d = parse_duration(src, t)?;
            if d.is_zero() || d > MAX_TIMEOUT {
                return Err(src.error_at(
                    t,
                    format!(
                        "`timeout` must be longer than zero and at most {}",
                        humantime::format_duration(MAX_TIMEOUT)
                    ),
                ));
            }
            d
        }
        None => DEFAULT_TIMEOUT,
    };
    Ok(Some(GrafanaSpec {
        url: url.trim_end_matches('/').to_string(),
        dashboard_uid,
        panel_id,
        tags,
        token_env,
        token,
        timeout,
    }))
}

/// An `http(s)://` base URL without credentials (the token is the only secret sent).
fn check_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let parsed = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "Grafana's URL starts with http:// or https://, not {}://",
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "credentials do not belong in Grafana's URL: put the token in the variable named by `token_env`"
                .into(),
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "`{text}`: give Grafana's base URL, without a query or fragment"
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(section: &str) -> ProfileSource {
        let text = format!(
            "name = \"p\"\nenvironment = \"test\"\n[[load.stage]]\nduration = \"1s\"\nrate = 1\n[mix]\nx = 1\n{section}"
        );
        ProfileSource {
            path: "p.toml".into(),
            base: ".".into(),
            file: toml::from_str(&text).unwrap(),
            text,
        }
    }

    fn error(section: &str) -> String {
        build(&source(section)).unwrap_err().to_string()
    }

    #[test]
    fn a_grafana_section_resolves_with_its_defaults() {
        let src = source(
            "[annotations.grafana]\nurl = \"http://grafana:3000/sub/\"\ndashboard_uid = \"retail\"\npanel_id = 4\ntags = [\"team:pos\"]\ntoken_env = \"PEAKGATE_TEST_UNSET_GRAFANA_TOKEN\"\n",
        );
        let g = build(&src).unwrap().unwrap();
        assert_eq!(g.url, "http://grafana:3000/sub");
        assert_eq!(g.dashboard_uid.as_deref(), Some("retail"));
        assert_eq!(g.panel_id, Some(4));
        assert_eq!(g.tags, ["team:pos"]);
        assert_eq!(g.token_env, "PEAKGATE_TEST_UNSET_GRAFANA_TOKEN");
        assert!(g.token.is_none());
        assert_eq!(g.timeout, DEFAULT_TIMEOUT);
        assert!(build(&source("")).unwrap().is_none());
    }

    #[test]
    fn mistakes_in_the_grafana_section_are_located() {
        let at = |s: &str, line: &str, words: &str| {
            let e = error(s);
            assert!(e.starts_with(&format!("p.toml:{line}")), "{e}");
            assert!(e.contains(words), "{e}");
        };
        at(
            "[annotations.grafana]\ndashboard_uid = \"x\"\n",
            "8:1",
            "needs `url` or `url_env`",
        );
        at(
            "[annotations.grafana]\nurl = \"http://admin:pw@g:3000\"\n",
            "9:7",
            "credentials do not belong",
        );
        at(
            "[annotations.grafana]\nurl = \"ftp://g\"\n",
            "9:7",
            "http:// or https://",
        );
        at(
            "[annotations.grafana]\nurl = \"http://g\"\npanel_id = 2\n",
            "10:12",
            "set `dashboard_uid` too",
        );
        at(
            "[annotations.grafana]\nurl = \"http://g\"\ntimeout = \"0s\"\n",
            "10:11",
            "longer than zero",
        );
        at(
            "[annotations.grafana]\nurl = \"http://g\"\ntags = [\"a\", \"a\"]\n",
            "10:14",
            "listed twice",
        );
        at(
            "[annotations.grafana]\nurl_env = \"PEAKGATE_TEST_UNSET_GRAFANA_URL\"\n",
            "9:11",
            "is not set",
        );
    }

    #[test]
    fn an_unknown_key_is_refused_at_its_line() {
        let text = "name = \"p\"\nenvironment = \"test\"\n[[load.stage]]\nduration = \"1s\"\nrate = 1\n[mix]\nx = 1\n[annotations.grafana]\nurl = \"http://g\"\ntoken = \"abc\"\n";
        let e = toml::from_str::<crate::config::profile::ProfileFile>(text).unwrap_err();
        assert!(e.message().contains("unknown field `token`"), "{e}");
        let span = e.span().unwrap();
        assert_eq!(&text[span.start..span.start + 5], "token");
    }
}
