//! The canary: Odoo's cheapest JSON-RPC call (`/web/webclient/version_info`) on a client of
//! its own. It needs a free worker like any request, so when every worker is busy its latency
//! is the queueing delay. Recorded beside the harness's in-flight count and the Odoo worker
//! backends the postgres probe last saw.

use std::sync::atomic::Ordering;

use serde_json::json;
use tokio::time::Instant;

use super::runner::Probe;
use super::track::{Reading, Readings};
use super::{OdooBackends, Shared};
use crate::engine::ErrorKind;
use crate::engine::client::{OdooClient, RpcOutcome, envelope, read_rpc};
use crate::plan::ProbeSpec;

const PATH: &str = "/web/webclient/version_info";

pub struct CanaryProbe {
    base: String,
    client: OdooClient,
    shared: Shared,
    next_id: u64,
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
            client: OdooClient::new(&base, spec.timeout, 1),
            base,
            shared: shared.clone(),
            next_id: 0,
        }
    }

    /// What the canary calls, for the report.
    pub fn target(&self) -> String {
        format!("{}{PATH}", self.base)
    }

    async fn call(&mut self) -> Result<f64, String> {
        self.next_id += 1;
        let sent = Instant::now();
        let answer = self
            .client
            .post_json(PATH, envelope(json!({}), self.next_id), None)
            .await
            .map_err(|e| http_failure(&self.base, PATH, &e))?;
        let latency_ms = sent.elapsed().as_secs_f64() * 1000.0;
        match read_rpc(&answer) {
            RpcOutcome::Result(_) => Ok(latency_ms),
            RpcOutcome::SessionExpired => Err(format!("{PATH}: session expired")),
            RpcOutcome::Error(e) => Err(http_failure(&self.base, PATH, &e)),
        }
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
pub fn http_failure(base: &str, path: &str, e: &ErrorKind) -> String {
    let what = match e {
        ErrorKind::Connect => "cannot connect".to_string(),
        ErrorKind::Timeout => "no answer within the probe timeout".to_string(),
        ErrorKind::Http(s) => format!("HTTP status {s}"),
        ErrorKind::Protocol => "not a valid HTTP/JSON-RPC answer".to_string(),
        other => other.label(),
    };
    format!("{what} ({base}{path})")
}
