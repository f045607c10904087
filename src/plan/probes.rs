//! Probes in the plan: each `[probes.*]` section checked and resolved (URL read from its
//! environment variable, selectors parsed), ready for the probe tasks.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Secret;
use crate::config::ConfigError;
use crate::config::probes::Every;
use crate::config::profile::{ProfileSource, parse_duration};

/// What a probe watches; also its name in the profile and in `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Postgres,
    Redis,
    Canary,
    Prometheus,
}

impl ProbeKind {
    /// Every kind, in profile order.
    pub const ALL: [ProbeKind; 4] = [
        ProbeKind::Postgres,
        ProbeKind::Redis,
        ProbeKind::Canary,
        ProbeKind::Prometheus,
    ];

    /// The probe's name: its profile table and its key under `probes` in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Postgres => "postgres",
            ProbeKind::Redis => "redis",
            ProbeKind::Canary => "canary",
            ProbeKind::Prometheus => "prometheus",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One probe, resolved.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    /// The URL to connect to, password included when it came from `url_env`; `None` for a
    /// canary that calls the run's own target.
    pub url: Option<Secret>,
    /// The same URL without its password, for artifacts and messages.
    pub shown_url: Option<String>,
    /// PostgreSQL: the database whose activity is watched (`None`: the URL's).
    pub database: Option<String>,
    /// Prometheus: the series to keep.
    pub metrics: Vec<Selector>,
    /// Time between two samples.
    pub interval: Duration,
    /// Longest a sample (or a reconnection) may take; shorter than `interval`.
    pub timeout: Duration,
    /// A probe that cannot connect at start records a gap instead of stopping the run.
    pub optional: bool,
}

/// A Prometheus series selector: a metric name and label equalities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The selector as written (trimmed): the series' name in `run.json`.
    pub text: String,
    pub metric: String,
    /// `label = value` filters a sample must all match.
    pub labels: Vec<(String, String)>,
}

impl Selector {
    /// Parses `name` or `name{label="value",...}`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let (metric, rest) = match text.find('{') {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        let valid_name = |s: &str, colon: bool| {
            let mut chars = s.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
        };
        if !valid_name(metric, true) {
            return Err(format!("`{text}`: `{metric}` is not a metric name"));
        }
        let mut labels = Vec::new();
        if let Some(rest) = rest {
            let Some(body) = rest.strip_suffix('}') else {
                return Err(format!("`{text}`: the label filter must end with `}}`"));
            };
            let mut chars = body.chars().peekable();
            loop {
                while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
                if chars.peek().is_none() {
                    break;
                }
                let name: String = std::iter::from_fn(|| {
                    chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                })
                .collect();
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if !valid_name(&name, false) || chars.next() != Some('=') {
                    return Err(format!(
                        "`{text}`: filters are written label=\"value\" (only `=` is supported)"
                    ));
                }
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if chars.next() != Some('"') {
                    return Err(format!("`{text}`: the value of `{name}` must be quoted"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c) => value.push(c),
                            None => break,
                        },
                        Some('"') => {
                            labels.push((name.clone(), value.clone()));
                            break;
                        }
                        Some(c) => value.push(c),
                        None => return Err(format!("`{text}`: unclosed quote")),
                    }
                }
                if labels.last().map(|(n, _)| n) != Some(&name) {
                    return Err(format!("`{text}`: unclosed quote"));
                }
            }
        }
        Ok(Selector {
            text: text.to_string(),
            metric: metric.to_string(),
            labels,
        })
    }
}

/// Every `[probes.*]` section of a profile, resolved, in kind order; and, for each optional
/// probe left off because the variable holding its URL is not set, why.
pub fn build(src: &ProfileSource) -> Result<(Vec<ProbeSpec>, Vec<String>), ConfigError> {
    let p = &src.file.probes;
    let mut out = Vec::new();
    let mut off = Vec::new();
    if let Some(pg) = &p.postgres {
        let f = pg.get_ref();
        let url = url(
            src,
            pg,
            ProbeKind::Postgres,
            f.url.as_ref(),
            f.url_env.as_ref(),
            f.every().optional,
        )?;
        match url {
            Ok(url) => {
                out.push(spec(src, ProbeKind::Postgres, Some(url), f.every())?);
                out.last_mut().expect("just pushed").database = f.database.clone();
            }
            Err(why) => off.push(why),
        }
    }
    if let Some(r) = &p.redis {
        let f = r.get_ref();
        let url = url(
            src,
            r,
            ProbeKind::Redis,
            f.url.as_ref(),
            f.url_env.as_ref(),
            f.every().optional,
        )?;
        match url {
            Ok(url) => out.push(spec(src, ProbeKind::Redis, Some(url), f.every())?),
            Err(why) => off.push(why),
        }
    }
    if let Some(c) = &p.canary {
        let f = c.get_ref();
        let url = match &f.url {
            Some(u) => Some(inline_url(src, u, ProbeKind::Canary)?),
            None => None,
        };
        out.push(spec(src, ProbeKind::Canary, url, f.every())?);
    }
    if let Some(pr) = &p.prometheus {
        let f = pr.get_ref();
        let url = url(
            src,
            pr,
            ProbeKind::Prometheus,
            f.url.as_ref(),
            f.url_env.as_ref(),
            f.every().optional,
        )?;
        if f.metrics.get_ref().is_empty() {
            return Err(src.error_at(&f.metrics, "`metrics` names no series to keep"));
        }
        let mut metrics: Vec<Selector> = Vec::new();
        for m in f.metrics.get_ref() {
            let s = Selector::parse(m.get_ref()).map_err(|e| src.error_at(m, e))?;
            if metrics.iter().any(|o| o.text == s.text) {
                return Err(src.error_at(m, format!("`{}` is listed twice", s.text)));
            }
            metrics.push(s);
        }
        match url {
            Ok(url) => {
                out.push(spec(src, ProbeKind::Prometheus, Some(url), f.every())?);
                out.last_mut().expect("just pushed").metrics = metrics;
            }
            Err(why) => off.push(why),
        }
    }
    Ok((out, off))
}

fn spec(
    src: &ProfileSource,
    kind: ProbeKind,
    url: Option<Secret>,
    every: Every<'_>,
) -> Result<ProbeSpec, ConfigError> {
    let interval = match every.interval {
        Some(i) => {
            let d = parse_duration(src, i)?;
            if d < Duration::from_millis(100) {
                return Err(src.error_at(i, "`interval` must be at least 100ms"));
            }
            d
        }
        None => Duration::from_secs(1),
    };
    let timeout = match every.timeout {
        Some(t) => {
            let d = parse_duration(src, t)?;
            if d.is_zero() || d >= interval {
                return Err(src.error_at(
                    t,
                    format!(
                        "`timeout` must be longer than zero and shorter than the interval ({})",
                        humantime::format_duration(interval)
                    ),
                ));
            }
            d
        }
        // Bounded below the interval so a slow sample never overlaps the next one.
        None => interval.mul_f64(0.8),
    };
    let shown_url = url.as_ref().map(|u| crate::secrets::redact_url(u.expose()));
    Ok(ProbeSpec {
        kind,
        url,
        shown_url,
        database: None,
        metrics: Vec::new(),
        interval,
        timeout,
        optional: every.optional,
    })
}

/// Exactly one of `url` and `url_env`, resolved and checked for its kind. An optional probe
/// whose variable is not set is left off: `Ok(Err(why))`.
fn url<T>(
    src: &ProfileSource,
    section: &Spanned<T>,
    kind: ProbeKind,
    url: Option<&Spanned<String>>,
    url_env: Option<&Spanned<String>>,
    optional: bool,
) -> Result<Result<Secret, String>, ConfigError> {
    match (url, url_env) {
        (Some(_), Some(e)) => Err(src.error_at(
            e,
            format!("[probes.{kind}] takes `url` or `url_env`, not both"),
        )),
        (None, None) => Err(src.error_at(
            section,
            format!("[probes.{kind}] needs `url` or `url_env` (the name of a variable holding it)"),
        )),
        (Some(u), None) => inline_url(src, u, kind).map(Ok),
        (None, Some(var)) => {
            let Ok(value) = std::env::var(var.get_ref()) else {
                if optional {
                    return Ok(Err(format!(
                        "probe `{kind}` is off: `{}` is not set (an optional probe; set it to watch {kind})",
                        var.get_ref()
                    )));
                }
                return Err(src.error_at(
                    var,
                    format!(
                        "environment variable `{}` (url_env of probe `{kind}`) is not set",
                        var.get_ref()
                    ),
                ));
            };
            check_scheme(kind, &value)
                .map_err(|e| src.error_at(var, format!("the URL in `{}`: {e}", var.get_ref())))?;
            Ok(Ok(Secret::new(value)))
        }
    }
}

/// A URL written in the profile itself: it must not hold a password.
fn inline_url(
    src: &ProfileSource,
    u: &Spanned<String>,
    kind: ProbeKind,
) -> Result<Secret, ConfigError> {
    check_scheme(kind, u.get_ref()).map_err(|e| src.error_at(u, e))?;
    if has_password(u.get_ref()) {
        return Err(src.error_at(
            u,
            format!(
                "a password does not belong in the profile: put the URL in an environment variable and name it in `url_env` of [probes.{kind}]"
            ),
        ));
    }
    Ok(Secret::new(u.get_ref().clone()))
}

fn check_scheme(kind: ProbeKind, url: &str) -> Result<(), String> {
    let schemes: &[&str] = match kind {
        ProbeKind::Postgres => &["postgres://", "postgresql://"],
        ProbeKind::Redis => &["redis://"],
        ProbeKind::Canary | ProbeKind::Prometheus => &["http://", "https://"],
    };
    if !schemes.iter().any(|s| url.starts_with(s)) {
        let extra = if url.starts_with("rediss://") {
            " (TLS to Redis is not supported)"
        } else {
            ""
        };
        return Err(format!(
            "probe `{kind}` takes a URL starting with {}{extra}",
            schemes.join(" or ")
        ));
    }
    if matches!(kind, ProbeKind::Canary | ProbeKind::Prometheus)
        && url::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        return Err(format!(
            "probe `{kind}`: credentials in an HTTP URL are not supported"
        ));
    }
    Ok(())
}

/// The `user:password@host:port` part of a URL.
/// Whether a URL carries a password, in its user info or as a `password=` parameter.
pub fn has_password(url: &str) -> bool {
    !crate::secrets::url_passwords(url).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::ProfileSource;

    fn source(probes: &str) -> ProfileSource {
        let text = format!(
            "name = \"p\"\nenvironment = \"test\"\n[[load.stage]]\nduration = \"1s\"\nrate = 1\n[mix]\nx = 1\n{probes}"
        );
        ProfileSource {
            path: "p.toml".into(),
            base: ".".into(),
            file: toml::from_str(&text).unwrap(),
            text,
        }
    }

    #[test]
    fn probes_resolve_in_kind_order_with_defaults_below_the_interval() {
        let src = source(
            r#"
[probes.prometheus]
url = "http://m:9100/metrics"
metrics = ['up{job="odoo"}']
interval = "5s"
[probes.canary]
[probes.postgres]
url = "postgres://odoo@db:5432/retail"
database = "retail"
timeout = "300ms"
optional = true
"#,
        );
        let (specs, off) = build(&src).unwrap();
        assert!(off.is_empty());
        let kinds: Vec<ProbeKind> = specs.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                ProbeKind::Postgres,
                ProbeKind::Canary,
                ProbeKind::Prometheus
            ]
        );
        let (pg, canary, prom) = (&specs[0], &specs[1], &specs[2]);
        assert_eq!(pg.interval, Duration::from_secs(1));
        assert_eq!(pg.timeout, Duration::from_millis(300));
        assert!(pg.optional && !canary.optional);
        assert_eq!(pg.database.as_deref(), Some("retail"));
        assert_eq!(
            pg.shown_url.as_deref(),
            Some("postgres://odoo@db:5432/retail")
        );
        assert!(canary.url.is_none());
        assert_eq!(canary.timeout, Duration::from_millis(800));
        assert_eq!(prom.timeout, Duration::from_secs(4));
        assert_eq!(prom.metrics[0].labels, [("job".into(), "odoo".into())]);
    }

    #[test]
    fn passwords_are_found_in_urls() {
        assert!(has_password("postgres://odoo:s3cret@db:5432/retail"));
        assert!(has_password("redis://:s3cret@cache:6379/0"));
        assert!(has_password(
            "postgres://db/retail?user=odoo&password=s3cret"
        ));
        assert!(!has_password("postgres://odoo@db:5432/retail"));
        assert!(!has_password("redis://127.0.0.1:6379"));
        // As the clients read it: the user info ends at the last `@`.
        assert!(has_password("postgres://odoo:S3cr3t#XYZ/1@db:5432/retail"));
        // Redaction itself: crate::secrets.
    }

    #[test]
    fn selectors_take_a_name_and_label_equalities() {
        let s = Selector::parse(r#"traefik_service_requests_total{service="odoo", code="5\"00"}"#)
            .unwrap();
        assert_eq!(s.metric, "traefik_service_requests_total");
        assert_eq!(
            s.labels,
            vec![
                ("service".to_string(), "odoo".to_string()),
                ("code".to_string(), "5\"00".to_string())
            ]
        );
        let plain = Selector::parse(" odoo:workers ").unwrap();
        assert_eq!(
            (plain.text.as_str(), plain.labels.len()),
            ("odoo:workers", 0)
        );
        for bad in [
            "",
            "9lives",
            "x{a=\"b\"",
            "x{a!=\"b\"}",
            "x{a=b}",
            "x{a=\"b}",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_optional_probe_whose_variable_is_unset_is_left_off_and_said() {
        let text = r#"
[probes.postgres]
url_env = "PEAKGATE_TEST_UNSET_PG_URL_1b7e"
optional = true
[probes.redis]
url = "redis://127.0.0.1:6379/0"
"#;
        let (specs, off) = build(&source(text)).unwrap();
        assert_eq!(
            specs.iter().map(|s| s.kind).collect::<Vec<_>>(),
            [ProbeKind::Redis]
        );
        assert_eq!(off.len(), 1);
        assert!(
            off[0].contains("PEAKGATE_TEST_UNSET_PG_URL_1b7e"),
            "{off:?}"
        );
        // A required one is an error at its line.
        let required = text.replace("optional = true", "optional = false");
        let e = build(&source(&required)).unwrap_err().to_string();
        assert!(e.contains("is not set"), "{e}");
    }
}
