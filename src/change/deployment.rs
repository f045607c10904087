//! The deployment's configuration as the GitOps repository holds it, read into what the
//! configuration review judges: `odoo.conf` (INI, section `[options]`), Kubernetes
//! Deployment and HorizontalPodAutoscaler manifests (YAML, several documents a file), and
//! optionally Traefik's dynamic configuration (YAML or TOML). Wrong input is an error naming
//! the file and the key (exit 2).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ConfigError;

/// `odoo.conf`, with Odoo's defaults where a key is absent (odoo/tools/config.py).
#[derive(Debug, Clone, PartialEq)]
pub struct OdooConf {
    pub path: PathBuf,
    /// HTTP worker processes (0: threaded mode, one process).
    pub workers: u32,
    /// Connections each process's pool may open.
    pub db_maxconn: u32,
    pub max_cron_threads: u32,
    /// Seconds a request may take before its worker is killed.
    pub limit_time_real: f64,
    /// Bytes of virtual memory after which a worker is recycled, and killed.
    pub limit_memory_soft: f64,
    pub limit_memory_hard: f64,
}

/// The keys read, with Odoo's defaults.
const ODOO_DEFAULTS: [(&str, f64); 6] = [
    ("workers", 0.0),
    ("db_maxconn", 64.0),
    ("max_cron_threads", 2.0),
    ("limit_time_real", 120.0),
    ("limit_memory_soft", 2048.0 * 1024.0 * 1024.0),
    ("limit_memory_hard", 2560.0 * 1024.0 * 1024.0),
];

impl OdooConf {
    pub fn load(path: &Path) -> Result<OdooConf, ConfigError> {
        OdooConf::parse(path, &read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<OdooConf, ConfigError> {
        let opt = ini::ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ini::ParseOption::default()
        };
        let conf = ini::Ini::load_from_str_opt(text, opt).map_err(|e| ConfigError::At {
            path: path.to_path_buf(),
            line: e.line + 1,
            column: e.col + 1,
            message: e.msg.to_string(),
        })?;
        let Some(options) = conf.section(Some("options")) else {
            return Err(ConfigError::key(
                path,
                "[options]",
                "missing: Odoo reads its settings from the [options] section",
            ));
        };
        let mut v = BTreeMap::new();
        for (key, default) in ODOO_DEFAULTS {
            let value = match options.get(key).map(str::trim) {
                None | Some("") => default,
                Some(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        ConfigError::key(
                            path,
                            format!("options.{key}"),
                            format!("`{text}` is not a number at or above 0"),
                        )
                    })?,
            };
            v.insert(key, value);
        }
        Ok(OdooConf {
            path: path.to_path_buf(),
            workers: v["workers"] as u32,
            db_maxconn: v["db_maxconn"] as u32,
            max_cron_threads: v["max_cron_threads"] as u32,
            limit_time_real: v["limit_time_real"],
            limit_memory_soft: v["limit_memory_soft"],
            limit_memory_hard: v["limit_memory_hard"],
        })
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The Odoo pods as Kubernetes runs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Pods {
    /// The file and name of the Deployment.
    pub deployment_file: PathBuf,
    pub deployment: String,
    /// `spec.replicas` (default 1).
    pub replicas: u32,
    /// The autoscaler of the Deployment, when one targets it.
    pub hpa: Option<Hpa>,
    /// The Odoo container's name and resources, bytes.
    pub container: String,
    pub memory_request: Option<f64>,
    pub memory_limit: Option<f64>,
    /// Extra pods a rolling update starts beside the old ones.
    pub surge: Surge,
}

/// `spec.strategy.rollingUpdate.maxSurge`: a count or a percentage of the pods (rounded up);
/// Kubernetes' default is 25%, and a `Recreate` strategy starts none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Surge {
    Pods(u32),
    Percent(f64),
}

impl Surge {
    /// The extra pods of a rollout when `pods` run.
    pub fn at(self, pods: u32) -> u32 {
        match self {
            Surge::Pods(n) => n,
            Surge::Percent(p) => (f64::from(pods) * p / 100.0).ceil() as u32,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Surge::Pods(n) => n.to_string(),
            Surge::Percent(p) => format!("{p}%"),
        }
    }
}

impl Pods {
    /// The most pods there can be: the autoscaler's maxReplicas, else the replicas.
    pub fn max_pods(&self) -> u32 {
        self.hpa.as_ref().map_or(self.replicas, |h| h.max_replicas)
    }

    /// Where the pod count is set, for a message: `hpa.yaml: spec.maxReplicas (odoo)`.
    pub fn max_pods_key(&self) -> String {
        match &self.hpa {
            Some(h) => format!(
                "{}: HorizontalPodAutoscaler {} spec.maxReplicas",
                h.file.display(),
                h.name
            ),
            None => format!(
                "{}: Deployment {} spec.replicas",
                self.deployment_file.display(),
                self.deployment
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hpa {
    pub file: PathBuf,
    pub name: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
}

#[derive(Deserialize)]
struct Head {
    kind: Option<String>,
    #[serde(default)]
    metadata: Meta,
}

#[derive(Default, Deserialize)]
struct Meta {
    name: Option<String>,
}

#[derive(Deserialize)]
struct DeploymentDoc {
    #[serde(default)]
    spec: DeploymentSpec,
}

#[derive(Default, Deserialize)]
struct DeploymentSpec {
    replicas: Option<u32>,
    template: Option<Template>,
    strategy: Option<Strategy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Strategy {
    #[serde(rename = "type")]
    kind: Option<String>,
    rolling_update: Option<RollingUpdate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RollingUpdate {
    max_surge: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Template {
    spec: Option<PodSpec>,
}

#[derive(Deserialize)]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Deserialize)]
struct Container {
    name: String,
    #[serde(default)]
    resources: Resources,
}

#[derive(Default, Deserialize)]
struct Resources {
    #[serde(default)]
    limits: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    requests: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HpaDoc {
    spec: HpaSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HpaSpec {
    scale_target_ref: TargetRef,
    min_replicas: Option<u32>,
    max_replicas: u32,
}

#[derive(Deserialize)]
struct TargetRef {
    kind: String,
    name: String,
}

/// Reads the Odoo Deployment (named `deployment`, else the only one) and the autoscaler
/// targeting it from Kubernetes manifests; the container named `container`, else `odoo`,
/// else the only one.
pub fn read_pods(
    files: &[PathBuf],
    deployment: Option<&str>,
    container: Option<&str>,
) -> Result<Pods, ConfigError> {
    let mut deployments = Vec::new();
    let mut hpas = Vec::new();
    for path in files {
        let text = read(path)?;
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| ConfigError::Flag {
                flag: "--kubernetes".into(),
                message: format!("{}: not YAML: {e}", path.display()),
            })?;
        for (i, doc) in docs.into_iter().enumerate() {
            let key = |k: &str| format!("document {} {k}", i + 1);
            let bad = |k: &str, e: serde_json::Error| ConfigError::key(path, key(k), e.to_string());
            let head: Head = match serde_json::from_value(doc.clone()) {
                Ok(h) => h,
                Err(_) => continue, // not a Kubernetes object (a list of values, a scalar)
            };
            let name = head.metadata.name.unwrap_or_default();
            match head.kind.as_deref() {
                Some("Deployment") => {
                    let d: DeploymentDoc =
                        serde_json::from_value(doc).map_err(|e| bad("spec", e))?;
                    deployments.push((path.clone(), name, d));
                }
                Some("HorizontalPodAutoscaler") => {
                    let h: HpaDoc = serde_json::from_value(doc).map_err(|e| bad("spec", e))?;
                    hpas.push((path.clone(), name, h));
                }
                _ => {}
            }
        }
    }
    let names = |d: &[(PathBuf, String, DeploymentDoc)]| {
        d.iter().map(|x| x.1.clone()).collect::<Vec<_>>().join(", ")
    };
    let flag = |message: String| ConfigError::Flag {
        flag: "--kubernetes".into(),
        message,
    };
    let index = match deployment {
        Some(want) => deployments.iter().position(|d| d.1 == want).ok_or_else(|| {
            flag(format!(
                "no Deployment named {want} (policy [preflight] deployment) in the files given; found: {}",
                if deployments.is_empty() { "none".into() } else { names(&deployments) }
            ))
        })?,
        None if deployments.len() == 1 => 0,
        None if deployments.is_empty() => {
            return Err(flag("the files given hold no Deployment: give the Odoo Deployment's manifest".into()));
        }
        None => {
            return Err(flag(format!(
                "the files hold several Deployments ({}): name Odoo's as [preflight] deployment in the policy",
                names(&deployments)
            )));
        }
    };
    let (file, name, doc) = deployments.swap_remove(index);
    let containers = doc
        .spec
        .template
        .and_then(|t| t.spec)
        .map(|s| s.containers)
        .unwrap_or_default();
    let all: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let chosen = match container {
        Some(want) => containers.iter().find(|c| c.name == want),
        None => containers
            .iter()
            .find(|c| c.name == "odoo")
            .or(if containers.len() == 1 {
                containers.first()
            } else {
                None
            }),
    }
    .ok_or_else(|| {
        ConfigError::key(
            &file,
            format!("Deployment {name} spec.template.spec.containers"),
            format!(
                "no Odoo container among [{}]: name it as [preflight] container in the policy",
                all.join(", ")
            ),
        )
    })?;
    let memory = |map: &BTreeMap<String, serde_json::Value>, which: &str| {
        map.get("memory")
            .map(|v| {
                quantity(v).ok_or_else(|| {
                    ConfigError::key(
                        &file,
                        format!("container {} resources.{which}.memory", chosen.name),
                        format!("`{v}` is not a Kubernetes quantity (e.g. 2Gi, 1500M)"),
                    )
                })
            })
            .transpose()
    };
    let memory_limit = memory(&chosen.resources.limits, "limits")?;
    let memory_request = memory(&chosen.resources.requests, "requests")?;
    let hpa = hpas
        .into_iter()
        .find(|(_, _, h)| {
            h.spec.scale_target_ref.kind == "Deployment" && h.spec.scale_target_ref.name == name
        })
        .map(|(file, hname, h)| Hpa {
            file,
            name: hname,
            min_replicas: h.spec.min_replicas.unwrap_or(1),
            max_replicas: h.spec.max_replicas,
        });
    let surge = match doc.spec.strategy {
        Some(Strategy {
            kind: Some(kind), ..
        }) if kind == "Recreate" => Surge::Pods(0),
        Some(Strategy {
            rolling_update: Some(RollingUpdate { max_surge: Some(v) }),
            ..
        }) => surge(&v).ok_or_else(|| {
            ConfigError::key(
                &file,
                format!("Deployment {name} spec.strategy.rollingUpdate.maxSurge"),
                format!("`{v}` is neither a count nor a percentage (e.g. 1, \"25%\")"),
            )
        })?,
        _ => Surge::Percent(25.0),
    };
    Ok(Pods {
        surge,
        deployment_file: file.clone(),
        deployment: name,
        replicas: doc.spec.replicas.unwrap_or(1),
        hpa,
        container: chosen.name.clone(),
        memory_request,
        memory_limit,
    })
}

fn surge(v: &serde_json::Value) -> Option<Surge> {
    if let Some(n) = v.as_u64() {
        return u32::try_from(n).ok().map(Surge::Pods);
    }
    let text = v.as_str()?.trim();
    match text.strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| *p >= 0.0)
            .map(Surge::Percent),
        None => text.parse::<u32>().ok().map(Surge::Pods),
    }
}

/// A Kubernetes quantity in base units: `2Gi`, `1500M`, `512e6`, `1073741824`.
pub fn quantity(v: &serde_json::Value) -> Option<f64> {
    if let Some(n) = v.as_f64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(n * factor).filter(|x| x.is_finite() && *x >= 0.0)
}

/// What Traefik's dynamic configuration limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ingress {
    pub path: PathBuf,
    /// Timeouts on the way to Odoo, seconds, by their key
    /// (`http.serversTransports.<name>.forwardingTimeouts.responseHeaderTimeout`).
    pub timeouts: Vec<(String, f64)>,
    /// Rate limits: key (`http.middlewares.<name>.rateLimit`) and requests per second
    /// (`average` / `period`).
    pub rate_limits: Vec<(String, f64)>,
}

impl Ingress {
    /// Reads a dynamic configuration file: TOML when it ends in `.toml`, else YAML.
    pub fn load(path: &Path) -> Result<Ingress, ConfigError> {
        let text = read(path)?;
        let value: serde_json::Value = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).map_err(|e| ConfigError::toml(path, &text, &e))?
        } else {
            serde_saphyr::from_str(&text).map_err(|e| ConfigError::Flag {
                flag: "--traefik".into(),
                message: format!("{}: not YAML: {e}", path.display()),
            })?
        };
        Ingress::from_value(path, &value)
    }

    fn from_value(path: &Path, v: &serde_json::Value) -> Result<Ingress, ConfigError> {
        let mut out = Ingress {
            path: path.to_path_buf(),
            ..Ingress::default()
        };
        let empty = serde_json::Map::new();
        let http = v.get("http");
        let table = |key: &str| {
            http.and_then(|h| h.get(key))
                .and_then(|t| t.as_object())
                .unwrap_or(&empty)
        };
        for (name, t) in table("serversTransports") {
            let Some(timeouts) = t.get("forwardingTimeouts") else {
                continue;
            };
            // 0 means none: a request may take as long as it takes.
            let key =
                format!("http.serversTransports.{name}.forwardingTimeouts.responseHeaderTimeout");
            if let Some(x) = timeouts.get("responseHeaderTimeout") {
                let s = duration_s(x).ok_or_else(|| {
                    ConfigError::key(
                        path,
                        &key,
                        format!("`{x}` is not a duration (e.g. \"60s\")"),
                    )
                })?;
                if s > 0.0 {
                    out.timeouts.push((key, s));
                }
            }
        }
        for (name, m) in table("middlewares") {
            let Some(rl) = m.get("rateLimit") else {
                continue;
            };
            let key = format!("http.middlewares.{name}.rateLimit");
            let average = rl.get("average").and_then(|a| a.as_f64()).unwrap_or(0.0);
            let period = match rl.get("period") {
                Some(p) => duration_s(p).ok_or_else(|| {
                    ConfigError::key(
                        path,
                        format!("{key}.period"),
                        format!("`{p}` is not a duration"),
                    )
                })?,
                None => 1.0,
            };
            // average 0 means no limit.
            if average > 0.0 && period > 0.0 {
                out.rate_limits.push((key, average / period));
            }
        }
        Ok(out)
    }
}

/// A Traefik duration: a number of seconds, or text like `"60s"`, `"1m30s"`.
fn duration_s(v: &serde_json::Value) -> Option<f64> {
    if let Some(n) = v.as_f64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    humantime::parse_duration(s).ok().map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odoo_conf_keys_with_defaults_and_bad_values_named() {
        let c = OdooConf::parse(
            Path::new("odoo.conf"),
            "[options]\nadmin_passwd = x\\y\nworkers = 8\ndb_maxconn = 16\nlimit_time_real = 300\n; a comment\n",
        )
        .unwrap();
        assert_eq!((c.workers, c.db_maxconn, c.max_cron_threads), (8, 16, 2));
        assert_eq!(c.limit_time_real, 300.0);
        assert_eq!(c.limit_memory_hard, 2_684_354_560.0);
        let e = OdooConf::parse(Path::new("odoo.conf"), "[options]\nworkers = many\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "odoo.conf: `options.workers`: `many` is not a number at or above 0"
        );
        let e = OdooConf::parse(Path::new("odoo.conf"), "workers = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[options]"), "{e}");
    }

    #[test]
    fn quantities_in_base_units() {
        let q = |s: &str| quantity(&serde_json::Value::String(s.into())).unwrap();
        assert_eq!(q("2Gi"), 2.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(q("1500M"), 1.5e9);
        assert_eq!(q("512e6"), 5.12e8);
        assert_eq!(q("500m"), 0.5);
        assert_eq!(quantity(&serde_json::json!(1024)), Some(1024.0));
        assert_eq!(quantity(&serde_json::json!("2 GB")), None);
    }

    #[test]
    fn traefik_timeouts_and_rate_limits() {
        let yaml = "http:\n  serversTransports:\n    slow:\n      forwardingTimeouts:\n        responseHeaderTimeout: 1m30s\n    odoo:\n      forwardingTimeouts:\n        responseHeaderTimeout: 90s\n        idleConnTimeout: 90s\n    none:\n      forwardingTimeouts:\n        responseHeaderTimeout: 0s\n  middlewares:\n    pos-limit:\n      rateLimit:\n        average: 600\n        period: 1m\n        burst: 100\n";
        let v: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
        let i = Ingress::from_value(Path::new("traefik.yaml"), &v).unwrap();
        assert_eq!(
            i.timeouts,
            vec![
                (
                    "http.serversTransports.odoo.forwardingTimeouts.responseHeaderTimeout"
                        .to_string(),
                    90.0
                ),
                (
                    "http.serversTransports.slow.forwardingTimeouts.responseHeaderTimeout"
                        .to_string(),
                    90.0
                )
            ]
        );
        assert_eq!(
            i.rate_limits,
            vec![("http.middlewares.pos-limit.rateLimit".to_string(), 10.0)]
        );
    }
}
