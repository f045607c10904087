//! The Prometheus probe: scrapes a text-format endpoint and keeps the series the profile
//! names. A selector's value is the sum over every sample its filters match (like PromQL's
//! `sum`); counters (and histogram buckets, `_count`, `_sum`) become per-second rates.

use std::collections::{BTreeMap, BTreeSet};

use prometheus_parse::{Scrape, Value};

use super::runner::Probe;
use super::track::{Reading, Readings};
use crate::odoo::{MAX_REDIRECTS, OdooClient, PageRequest};
use crate::plan::{ProbeSpec, Selector};

pub struct PrometheusProbe {
    /// `Err` says why the URL cannot be scraped (every sample is then a gap saying so).
    client: Result<OdooClient, String>,
    /// `scheme://host:port` of the endpoint.
    base: String,
    /// Path and query of the endpoint on its host.
    path: String,
    selectors: Vec<Selector>,
    /// Selectors that matched a sample at least once.
    seen: BTreeSet<String>,
}

impl PrometheusProbe {
    pub fn new(spec: &ProbeSpec) -> Self {
        let url = spec.url.as_ref().map_or("", |u| u.expose());
        let (base, path) = split_url(url);
        PrometheusProbe {
            client: url::Url::parse(base)
                .map(|u| OdooClient::http(&u, spec.timeout, 1))
                .map_err(|e| format!("{base}: {e}")),
            base: base.to_string(),
            path: path.to_string(),
            selectors: spec.metrics.clone(),
            seen: BTreeSet::new(),
        }
    }

    async fn scrape(&self) -> Result<Scrape, String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let req = PageRequest {
            path: self.path.clone(),
            form: None,
        };
        let page = client
            .page(&req, None, MAX_REDIRECTS)
            .await
            .outcome
            .map_err(|e| super::canary::http_failure(&self.base, &self.path, &e))?;
        let text = String::from_utf8_lossy(&page.body);
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).map_err(|e| e.to_string())
    }
}

impl Probe for PrometheusProbe {
    async fn connect(&mut self) -> Result<(), String> {
        self.scrape().await.map(|_| ())
    }

    async fn sample(&mut self) -> Result<Readings, String> {
        let scrape = self.scrape().await?;
        let (out, matched) = select(&self.selectors, &scrape);
        self.seen.extend(matched);
        Ok(out)
    }

    fn disconnect(&mut self) {}

    fn missing(&self) -> Vec<String> {
        self.selectors
            .iter()
            .filter(|s| !self.seen.contains(&s.text))
            .map(|s| s.text.clone())
            .collect()
    }
}

/// `http://host:port/metrics?x` → (`http://host:port`, `/metrics?x`).
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, "/"),
    }
}

/// The kept series of one scrape, and the selectors that matched. A bucket selector without
/// an `le` filter keeps one series per bucket, named with its `le`.
fn select(selectors: &[Selector], scrape: &Scrape) -> (Readings, BTreeSet<String>) {
    let mut sums: BTreeMap<String, (f64, bool)> = BTreeMap::new();
    let mut matched = BTreeSet::new();
    for sel in selectors {
        // Each selector sums on its own: an expanded bucket series never adds into a selector
        // written with that same `le`.
        let mut own: BTreeMap<String, (f64, bool)> = BTreeMap::new();
        for s in &scrape.samples {
            let labels_match = |extra: Option<(&str, String)>| {
                sel.labels.iter().all(|(k, v)| match &extra {
                    Some((ek, ev)) if k == ek => v == ev,
                    _ => s.labels.get(k) == Some(v.as_str()),
                })
            };
            match &s.value {
                Value::Histogram(buckets) if sel.metric == format!("{}_bucket", s.metric) => {
                    let pinned = sel.labels.iter().any(|(k, _)| k == "le");
                    for b in buckets {
                        let le = bound(b.less_than);
                        if !labels_match(Some(("le", le.clone()))) {
                            continue;
                        }
                        let key = if pinned {
                            sel.text.clone()
                        } else {
                            with_le(&sel.text, &le)
                        };
                        add(&mut own, key, b.count, true);
                    }
                }
                Value::Summary(quantiles) if sel.metric == s.metric => {
                    for q in quantiles {
                        if labels_match(Some(("quantile", bound(q.quantile))))
                            && sel.labels.iter().any(|(k, _)| k == "quantile")
                        {
                            add(&mut own, sel.text.clone(), q.count, false);
                        }
                    }
                }
                Value::Counter(v) if sel.metric == s.metric && labels_match(None) => {
                    add(&mut own, sel.text.clone(), *v, true);
                }
                Value::Gauge(v) | Value::Untyped(v)
                    if sel.metric == s.metric && labels_match(None) =>
                {
                    // Untyped `_total`, `_count`, `_sum` and `_bucket` series are counters by
                    // the naming conventions (histogram and summary parts land here).
                    let counter = matches!(s.value, Value::Untyped(_))
                        && ["_total", "_count", "_sum", "_bucket"]
                            .iter()
                            .any(|suffix| s.metric.ends_with(suffix));
                    add(&mut own, sel.text.clone(), *v, counter);
                }
                _ => {}
            }
        }
        if !own.is_empty() {
            matched.insert(sel.text.clone());
        }
        for (key, value) in own {
            sums.entry(key).or_insert(value);
        }
    }
    let readings = sums
        .into_iter()
        .map(|(name, (v, counter))| {
            let r = if counter {
                Reading::Counter(v)
            } else {
                Reading::Gauge(v)
            };
            (name, r)
        })
        .collect();
    (readings, matched)
}

fn add(sums: &mut BTreeMap<String, (f64, bool)>, key: String, v: f64, counter: bool) {
    let e = sums.entry(key).or_insert((0.0, counter));
    e.0 += v;
    e.1 |= counter;
}

/// A bucket bound or quantile as Prometheus writes it.
fn bound(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else {
        v.to_string()
    }
}

/// `name{a="b"}` + `0.5` → `name{a="b",le="0.5"}`.
fn with_le(selector: &str, le: &str) -> String {
    match selector.strip_suffix('}') {
        Some(open) if open.ends_with('{') => format!("{open}le=\"{le}\"}}"),
        Some(open) => format!("{open},le=\"{le}\"}}"),
        None => format!("{selector}{{le=\"{le}\"}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{service="odoo",code="200"} 1000
http_requests_total{service="odoo",code="500"} 10
http_requests_total{service="web",code="200"} 7
# TYPE open_connections gauge
open_connections{service="odoo"} 12
open_connections{service="web"} 3
# TYPE request_seconds histogram
request_seconds_bucket{service="odoo",le="0.1"} 5
request_seconds_bucket{service="odoo",le="+Inf"} 9
request_seconds_sum{service="odoo"} 2.5
request_seconds_count{service="odoo"} 9
"#;

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap()
    }

    #[test]
    fn selectors_sum_what_their_labels_match_and_mark_counters() {
        let scrape = Scrape::parse(TEXT.lines().map(|l| Ok(l.to_string()))).unwrap();
        let sels = [
            sel("http_requests_total"),
            sel(r#"http_requests_total{service="odoo",code="500"}"#),
            sel(r#"open_connections{service="odoo"}"#),
            sel(r#"request_seconds_bucket{service="odoo"}"#),
            sel(r#"request_seconds_bucket{le="0.1"}"#),
            // The same series as one bucket of the selector above: counted once.
            sel(r#"request_seconds_bucket{service="odoo",le="0.1"}"#),
            sel("request_seconds_count"),
            sel("absent_metric"),
        ];
        let (readings, matched) = select(&sels, &scrape);
        let got: BTreeMap<String, Reading> = readings.into_iter().collect();
        assert_eq!(matched.len(), 7);
        assert!(!matched.contains("absent_metric"));
        let want: BTreeMap<String, Reading> = [
            ("http_requests_total", Reading::Counter(1017.0)),
            (
                r#"http_requests_total{service="odoo",code="500"}"#,
                Reading::Counter(10.0),
            ),
            (r#"open_connections{service="odoo"}"#, Reading::Gauge(12.0)),
            (
                r#"request_seconds_bucket{service="odoo",le="0.1"}"#,
                Reading::Counter(5.0),
            ),
            (
                r#"request_seconds_bucket{service="odoo",le="+Inf"}"#,
                Reading::Counter(9.0),
            ),
            (r#"request_seconds_bucket{le="0.1"}"#, Reading::Counter(5.0)),
            ("request_seconds_count", Reading::Counter(9.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(
            split_url("http://traefik:8082/metrics"),
            ("http://traefik:8082", "/metrics")
        );
        assert_eq!(
            split_url("http://127.0.0.1:9100"),
            ("http://127.0.0.1:9100", "/")
        );
    }
}
