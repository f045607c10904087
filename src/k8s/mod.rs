//! k8s: the Kubernetes manifests of a sharded run (`peakgate k8s job`), built from what the
//! profile needs: its files (a ConfigMap), the environment variables it reads secrets from
//! (Secret references, names only), an Indexed Job of shards and a merge Job.
//!
//! Only manifests are made here; nothing talks to a cluster. How the pieces meet:
//! - every pod mounts the ConfigMap read-only at [`CONFIG_DIR`], keeping the files' relative
//!   layout, so the profile's relative paths (scenarios, data files) resolve as on disk;
//! - shard `$(JOB_COMPLETION_INDEX)` of the Indexed Job runs `--shard I/N` into
//!   `RESULTS_DIR/<name>/<run>/shards/` on a shared volume, all starting at one `--start-at`;
//!   `<run>` is made when the manifests are written and is in both Jobs' names, so a new run
//!   needs new manifests and never merges an earlier run's shards;
//! - the merge Job polls that folder until N shards wrote run.json or its wait runs out (no
//!   RBAC and no kubectl: it reads the volume), then merges; a shard that failed is a missing
//!   shard, and the merged verdict is inconclusive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Where the ConfigMap's files are mounted in every pod.
pub const CONFIG_DIR: &str = "/etc/peakgate";
/// Where the results volume is mounted; the Dockerfile's VOLUME.
pub const RESULTS_DIR: &str = "/results";
/// A ConfigMap holds at most 1 MiB.
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;

/// A file the run needs, and where it goes under [`CONFIG_DIR`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    /// Path under [`CONFIG_DIR`], `/`-separated.
    pub path: String,
    pub text: String,
}

/// An environment variable the profile reads a secret from.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretEnv {
    pub var: String,
    /// A probe marked `optional`: the pod starts without it.
    pub optional: bool,
}

/// What the manifests are made from.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Base of every object's name (a DNS label).
    pub name: String,
    /// This set of manifests' run: in the Jobs' names and the results paths (digits).
    pub run: String,
    pub image: String,
    pub shards: u32,
    /// Shard pods running at once; `shards` unless a smaller number is asked for.
    pub parallelism: u32,
    /// The profile's path under [`CONFIG_DIR`].
    pub profile: String,
    pub files: Vec<ConfigFile>,
    pub secrets: Vec<SecretEnv>,
    /// The Secret holding the variables of `secrets`, by name.
    pub secret_name: String,
    /// `peakgate run` flags passed through to every shard (`--target`, `--release`, ...).
    pub run_flags: Vec<String>,
    /// `--start-at` of every shard.
    pub start_at: String,
    /// The PersistentVolumeClaim (ReadWriteMany) the shards and the merge share.
    pub results_claim: String,
    /// How long the merge Job waits for the shards, humantime.
    pub merge_wait: String,
    /// `PEAKGATE_STORE` for the results store, and a Secret of its credentials (envFrom).
    pub store: Option<String>,
    pub store_secret: Option<String>,
}

/// Why manifests cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error(
        "--name `{0}`: a Kubernetes name is at most 39 lowercase letters, digits and `-`, starting with a letter (the Jobs' names add the run and `-shards`, their pods the index)"
    )]
    Name(String),
    #[error(
        "the profile's files come to {bytes} bytes, over a ConfigMap's {CONFIGMAP_LIMIT}: the largest is {largest}; move big data files into the image"
    )]
    TooBig { bytes: usize, largest: String },
    #[error("run `{0}`: a run is 1 to 12 digits")]
    Run(String),
    #[error("--parallelism {parallelism}: at most --shards ({shards}) and at least 1")]
    Parallelism { parallelism: u32, shards: u32 },
}

impl JobSpec {
    /// The manifests, by file name: `configmap.yaml`, `shards-job.yaml`, `merge-job.yaml`.
    pub fn manifests(&self) -> Result<BTreeMap<&'static str, Value>, K8sError> {
        check_name(&self.name)?;
        if self.run.is_empty()
            || self.run.len() > 12
            || !self.run.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(K8sError::Run(self.run.clone()));
        }
        if self.parallelism == 0 || self.parallelism > self.shards {
            return Err(K8sError::Parallelism {
                parallelism: self.parallelism,
                shards: self.shards,
            });
        }
        let bytes: usize = self.files.iter().map(|f| f.text.len()).sum();
        if bytes > CONFIGMAP_LIMIT {
            let largest = self
                .files
                .iter()
                .max_by_key(|f| f.text.len())
                .map(|f| f.path.clone())
                .unwrap_or_default();
            return Err(K8sError::TooBig { bytes, largest });
        }
        Ok(BTreeMap::from([
            ("configmap.yaml", self.config_map()),
            ("shards-job.yaml", self.shards_job()),
            ("merge-job.yaml", self.merge_job()),
        ]))
    }

    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": "peakgate",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": component,
        })
    }

    /// One key a file: keys are flat (`[-._a-zA-Z0-9]`), the mount's `items` put each back at
    /// its path.
    fn keyed(&self) -> Vec<(String, &ConfigFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let flat: String = f
                    .path
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                (format!("f{i}-{flat}"), f)
            })
            .collect()
    }

    fn config_map(&self) -> Value {
        let data: serde_json::Map<String, Value> = self
            .keyed()
            .into_iter()
            .map(|(k, f)| (k, Value::String(f.text.clone())))
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.job_name("config"), "labels": self.labels("config")},
            "data": data,
        })
    }

    /// This run's folder on the results volume.
    fn run_dir(&self) -> String {
        format!("{RESULTS_DIR}/{}/{}", self.name, self.run)
    }

    fn shards_dir(&self) -> String {
        format!("{}/shards", self.run_dir())
    }

    /// An object's name (the ConfigMap's, a Job's): the base, the run and its part (at most 39 + 1 + 12 + 7 = 59 characters,
    /// and its pods' hostnames add `-<index>`).
    fn job_name(&self, part: &str) -> String {
        format!("{}-{}-{part}", self.name, self.run)
    }

    fn shards_job(&self) -> Value {
        let mut args = vec![
            "run".to_string(),
            "--profile".into(),
            format!("{CONFIG_DIR}/{}", self.profile),
            // Kubernetes expands $(VAR) from the container's environment: the Job controller
            // sets JOB_COMPLETION_INDEX (0..N-1) in every pod of an Indexed Job.
            "--shard".into(),
            format!("$(JOB_COMPLETION_INDEX)/{}", self.shards),
            "--start-at".into(),
            self.start_at.clone(),
            "--out".into(),
            self.shards_dir(),
            "--quiet".into(),
        ];
        args.extend(self.run_flags.iter().cloned());
        let env: Vec<Value> = self
            .secrets
            .iter()
            .map(|s| {
                json!({
                    "name": s.var,
                    "valueFrom": {"secretKeyRef": {
                        "name": self.secret_name, "key": s.var, "optional": s.optional,
                    }},
                })
            })
            .chain(self.store_env())
            .collect();
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": self.job_name("shards"), "labels": self.labels("shard")},
            "spec": {
                "completionMode": "Indexed",
                "completions": self.shards,
                "parallelism": self.parallelism,
                // A shard run again would start late and alone: the merge counts it missing
                // instead, and the verdict says so.
                "backoffLimitPerIndex": 0,
                "maxFailedIndexes": self.shards,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": self.labels("shard")},
                    "spec": self.pod_spec("shard", args, env, Some(self.spread())),
                },
            },
        })
    }

    fn merge_job(&self) -> Value {
        let mut args = vec![
            "merge".to_string(),
            self.shards_dir(),
            "--expect".into(),
            self.shards.to_string(),
            "--wait".into(),
            self.merge_wait.clone(),
            "--out".into(),
            format!("{}/merged", self.run_dir()),
        ];
        if let Some(i) = self.run_flags.iter().position(|f| f == "--fail-on-warn") {
            args.push(self.run_flags[i].clone());
        }
        let env: Vec<Value> = self.store_env().collect();
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": self.job_name("merge"), "labels": self.labels("merge")},
            "spec": {
                "completions": 1,
                "parallelism": 1,
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "metadata": {"labels": self.labels("merge")},
                    "spec": self.pod_spec("merge", args, env, None),
                },
            },
        })
    }

    /// `PEAKGATE_STORE` and the store's credentials, for the results store.
    fn store_env(&self) -> impl Iterator<Item = Value> + '_ {
        self.store
            .iter()
            .map(|url| json!({"name": "PEAKGATE_STORE", "value": url}))
    }

    /// Shards prefer different nodes: one node's CPU must not be every shard's limit.
    fn spread(&self) -> Value {
        json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": self.labels("shard")},
            },
        }]}})
    }

    fn pod_spec(
        &self,
        container: &str,
        args: Vec<String>,
        env: Vec<Value>,
        affinity: Option<Value>,
    ) -> Value {
        let items: Vec<Value> = self
            .keyed()
            .into_iter()
            .map(|(k, f)| json!({"key": k, "path": f.path}))
            .collect();
        let mut c = json!({
            "name": container,
            "image": self.image,
            "args": args,
            "env": env,
            "volumeMounts": [
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": true},
                {"name": "results", "mountPath": RESULTS_DIR},
            ],
            "resources": {"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]},
            },
        });
        if let Some(secret) = &self.store_secret {
            c["envFrom"] = json!([{"secretRef": {"name": secret}}]);
        }
        let mut spec = json!({
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "fsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [c],
            "volumes": [
                {"name": "config", "configMap": {"name": self.job_name("config"), "items": items}},
                {"name": "results", "persistentVolumeClaim": {"claimName": self.results_claim}},
            ],
        });
        if let Some(a) = affinity {
            spec["affinity"] = a;
        }
        spec
    }
}

fn check_name(name: &str) -> Result<(), K8sError> {
    let ok = !name.is_empty()
        && name.len() <= 39
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(K8sError::Name(name.to_string()))
    }
}

/// A Kubernetes name from a profile name: lowercase, `-` for anything else, cut to fit.
pub fn name_from(profile: &str) -> String {
    let mut s: String = profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches('-').to_string();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("pg-{s}");
    }
    s.truncate(30);
    format!("peakgate-{}", s.trim_end_matches('-'))
}

/// The manifests as one YAML stream (`---` between documents), in file-name order.
pub fn to_yaml(doc: &Value) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(doc)
}

/// Files' paths relative to their deepest common folder, `/`-separated: their layout under
/// [`CONFIG_DIR`]. `paths` must be absolute.
pub fn relative_layout(paths: &[PathBuf]) -> Vec<String> {
    let common = paths
        .iter()
        .filter_map(|p| p.parent())
        .map(Path::to_path_buf)
        .reduce(|a, b| {
            a.components()
                .zip(b.components())
                .take_while(|(x, y)| x == y)
                .map(|(x, _)| x)
                .collect()
        })
        .unwrap_or_default();
    paths
        .iter()
        .map(|p| {
            p.strip_prefix(&common)
                .unwrap_or(p)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

#[cfg(test)]
mod tests;
