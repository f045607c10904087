//! The scenario file: one journey of Odoo calls run in order by one virtual user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

/// A scenario as written in `scenarios/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// What the journey is, in business words.
    #[serde(default)]
    pub description: String,
    /// Which session the journey needs.
    #[serde(default)]
    pub session: SessionKind,
    /// Values drawn once per journey, referenced as `{{name}}` in steps.
    #[serde(default)]
    pub vars: BTreeMap<String, Spanned<GeneratorFile>>,
    /// The calls, in order.
    #[serde(rename = "step")]
    pub steps: Vec<StepFile>,
}

/// The session a journey runs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// No cookie at all (`/jsonrpc`, health, version).
    #[default]
    None,
    /// An anonymous visitor: starts without a cookie and keeps the one the server sets.
    Public,
    /// A logged-in back-office or POS user, authenticated through `/web/session/authenticate`.
    User,
}

/// One `[[step]]`: exactly one of `call_kw`, `call_button`, `execute_kw`, `jsonrpc`, `http`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// Name, unique in the scenario; measurements are keyed `scenario/step`.
    pub name: Spanned<String>,
    /// `{ model, method }` through `/web/dataset/call_kw/<model>/<method>`.
    pub call_kw: Option<ModelMethod>,
    /// `{ model, method }` through `/web/dataset/call_button`: a form's button, as the web
    /// client presses it (the answer is an action, or `false` when the work is done).
    pub call_button: Option<ModelMethod>,
    /// `{ model, method }` through `/jsonrpc` `object.execute_kw`.
    pub execute_kw: Option<ModelMethod>,
    /// Path of any JSON-RPC route, e.g. `/shop/cart/update_json`.
    pub jsonrpc: Option<String>,
    /// Path of a page to load, e.g. `/shop`; a GET, or a form POST with `form`. Redirects are
    /// followed as a browser follows them.
    pub http: Option<String>,
    /// For `http` steps: form fields to POST (`application/x-www-form-urlencoded`).
    pub form: Option<BTreeMap<String, String>>,
    /// Positional arguments of a model method.
    pub args: Option<toml::Value>,
    /// Keyword arguments of a model method.
    pub kwargs: Option<toml::Value>,
    /// `params` of a `jsonrpc` step.
    pub params: Option<toml::Value>,
    /// Pause after this step before the next one, e.g. `"2s"`.
    pub think: Option<Spanned<String>>,
    /// Values to keep for later steps: name → JSON pointer into the result.
    #[serde(default)]
    pub save: BTreeMap<String, String>,
    /// For `http` steps: values to keep from the page, name → a regular expression whose first
    /// group is the value (e.g. the form's `csrf_token`).
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    /// For `http` steps: text the page must contain.
    pub expect_text: Option<String>,
    /// For JSON results: JSON pointer → the value it must hold (e.g. `"/successful" = true`).
    #[serde(default)]
    pub expect: BTreeMap<String, toml::Value>,
    /// For JSON results: JSON pointer → the values it may hold, one of them.
    #[serde(default)]
    pub expect_any: BTreeMap<String, Vec<toml::Value>>,
    /// What to do when Odoo answers a wizard (a window action) of a model: the wizard's button
    /// to press (`"process"`), or `"accept"` to take the action itself as the result. Any other
    /// wizard is a failure of kind `wizard`: the work was not done.
    #[serde(default)]
    pub on_wizard: BTreeMap<String, String>,
    /// Odoo major versions this step runs on (e.g. `["16", "17"]`); absent: all. The
    /// profile's `odoo_version` picks, so one scenario serves 16, 17 and 18.
    pub odoo: Option<Vec<String>>,
}

/// A model and one of its methods.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMethod {
    pub model: String,
    pub method: String,
}

/// How a journey value is drawn.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "gen", rename_all = "snake_case", deny_unknown_fields)]
pub enum GeneratorFile {
    /// A random UUID v4 string.
    Uuid,
    /// An integer uniformly in `[min, max]`.
    Int { min: i64, max: i64 },
    /// A number uniformly in `[min, max)`, rounded to `decimals`.
    Float {
        min: f64,
        max: f64,
        #[serde(default = "two")]
        decimals: u32,
    },
    /// One of `values`, optionally weighted.
    Choice {
        values: Vec<toml::Value>,
        weights: Option<Vec<f64>>,
    },
    /// A row of a data set read from the target (`from`, e.g. `"shop_products"`) or of a CSV
    /// file (`data`): one `column` of it, or the whole row as an object; `skew` > 0 makes
    /// earlier rows hot (Zipf).
    Pick {
        data: Option<String>,
        from: Option<String>,
        column: Option<String>,
        #[serde(default)]
        skew: f64,
    },
    /// A paid POS order in the target version's sync shape, on one of the POS sessions the
    /// run opened: lines from the target's POS products (Zipf-skewed by `skew`), priced with
    /// their taxes, paid in full.
    PosOrder {
        lines: [u32; 2],
        #[serde(default)]
        skew: f64,
    },
    /// The journey's sequence number in the run.
    Sequence,
    /// A date `days_ago` days before the journey starts, as Odoo writes dates (`YYYY-MM-DD`).
    Date { days_ago: i64 },
}

fn two() -> u32 {
    2
}

/// A scenario file read and parsed.
#[derive(Debug)]
pub struct ScenarioSource {
    /// Scenario name (the file stem).
    pub name: String,
    pub path: PathBuf,
    pub text: String,
    pub file: ScenarioFile,
}

impl ScenarioSource {
    /// Reads `dir/<name>.toml`.
    pub fn read(dir: &Path, name: &str) -> Result<Self, ConfigError> {
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        ScenarioSource::parse(name, path, text)
    }

    /// Parses a scenario's text, read from `path`.
    pub fn parse(name: &str, path: PathBuf, text: String) -> Result<Self, ConfigError> {
        let file: ScenarioFile =
            toml::from_str(&text).map_err(|e| ConfigError::toml(&path, &text, &e))?;
        Ok(ScenarioSource {
            name: name.to_string(),
            path,
            text,
            file,
        })
    }

    /// A located error at a spanned value of this scenario.
    pub fn error_at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.path, &self.text, value.span().start, message)
    }
}
