//! The canary: Odoo's cheapest JSON-RPC call (`/web/webclient/version_info`) on a client of
//! its own. It needs a free worker like any request, so when every worker is busy its latency
//! is the queueing delay. Recorded beside the harness's in-flight count and the Odoo worker
//! backends the postgres probe last saw.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::runner::Probe;
use super::track::{Reading, Readings};
use super::{OdooBackends, Shared};
use crate::odoo::client::VERSION_PATH as PATH;
use crate::odoo::{ErrorKind, Failure, OdooClient};
use crate::plan::ProbeSpec;

pub struct CanaryProbe {
    base: String,
    /// `None` when the URL cannot be driven (every sample is then a gap saying why).
    client: Result<OdooClient, String>,
    shared: Shared,
}

impl CanaryProbe {
    pub fn new(spec: &ProbeSpec, run_target: &str, shared: &Shared) -> Self {
        let base = spec
            .url
            .as_ref()
            .map_or(run_target, |u| u.expose())
            .trim_end_matches('/')
            .to_string();
        CanaryProbe {
            // One idle connection: the canary never competes with itself.
            client: crate::odoo::parse_target(&base)
                .map(|url| OdooClient::http(&url, spec.timeout, 1))
                .map_err(|e| e.to_string()),
            base,
            shared: shared.clone(),
        }
    }

    /// What the canary calls, for the report.
    pub fn target(&self) -> String {
        format!("{}{PATH}", self.base)
    }

    async fn call(&mut self) -> Result<f64, String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let sent = Instant::now();
        client
            .version()
            .await
            .map_err(|e| http_failure(&self.base, PATH, &e))?;
        Ok(sent.elapsed().as_secs_f64() * 1000.0)
    }
}

impl Probe for CanaryProbe {
    async fn connect(&mut self) -> Result<(), String> {
        self.call().await.map(|_| ())
    }

    async fn sample(&mut self) -> Result<Readings, String> {
        let in_flight = self.shared.in_flight.load(Ordering::Relaxed) as f64;
        let latency_ms = self.call().await?;
        let mut out = vec![
            ("latency_ms".to_string(), Reading::Gauge(latency_ms)),
            ("in_flight".to_string(), Reading::Gauge(in_flight)),
        ];
        if let Some(n) = OdooBackends::get(&self.shared.odoo_backends) {
            out.push(("odoo_backends".to_string(), Reading::Gauge(n as f64)));
        }
        Ok(out)
    }

    fn disconnect(&mut self) {}

    fn missing(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Why an HTTP probe call failed, in words (the artifacts' gap reasons).
pub fn http_failure(base: &str, path: &str, e: &Failure) -> String {
    let what = match &e.kind {
        ErrorKind::Connect => "cannot connect".to_string(),
        ErrorKind::Timeout => "no answer within the probe timeout".to_string(),
        ErrorKind::Http(s) => format!("HTTP status {s}"),
        ErrorKind::Protocol => "not a valid HTTP/JSON-RPC answer".to_string(),
        other => format!("{}: {}", other.label(), e.message),
    };
    format!("{what} ({base}{path})")
}
