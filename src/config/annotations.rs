//! The profile's `[annotations.*]` sections: where a run marks itself on dashboards, as written.
//!
//! Values checked after parsing keep their spans so a mistake is reported at its line.

use serde::Deserialize;
use toml::Spanned;

/// `[annotations]`: every annotation sink a profile may declare.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnotationsFile {
    /// `[annotations.grafana]`: a region on Grafana dashboards covering the load window.
    pub grafana: Option<Spanned<GrafanaFile>>,
}

/// `[annotations.grafana]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrafanaFile {
    /// Grafana's base URL, e.g. `https://grafana.example.com` (no credentials in it).
    pub url: Option<Spanned<String>>,
    /// Name of an environment variable holding the base URL.
    pub url_env: Option<Spanned<String>>,
    /// The dashboard the region belongs to (absent: an organization annotation, shown by tag).
    pub dashboard_uid: Option<Spanned<String>>,
    /// The panel of that dashboard the region belongs to.
    pub panel_id: Option<Spanned<i64>>,
    /// Tags added to peakgate's own (`peakgate`, `release:`, `profile:`, `run:`, `verdict:`).
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    /// Name of the environment variable holding the service account token
    /// (default `PEAKGATE_GRAFANA_TOKEN`).
    pub token_env: Option<Spanned<String>>,
    /// Longest one annotation request may take, e.g. `"5s"` (default 5s).
    pub timeout: Option<Spanned<String>>,
}
