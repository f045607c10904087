//! store: the results store, where run folders are kept after their run so that a pipeline
//! can find the last accepted release's run by what it ran (profile, target, tenant) instead
//! of by folder. One layout on every backend, through the `object_store` crate: a local
//! directory (the default, `.peakgate/store`) or S3-compatible object storage (`s3://bucket/prefix`,
//! credentials from the standard AWS environment variables only).
//!
//! ```text
//! runs/<run-id>/<artifact>      every file of the run folder, sub-folders kept (a --scale run's x1/...)
//! index/<run-id>.json           the run's [`Entry`]: written last, so an entry means a whole run
//! ```
//!
//! The store reads what `result` wrote; it never judges. `history` (the list and the trend
//! page) and the `last-accepted` baseline read the index.

pub mod entry;
pub mod trend;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};

pub use entry::{Entry, RunKind, StepFigures, last_accepted};

/// Where the store is when neither `--store` nor `PEAKGATE_STORE` names one.
pub const DEFAULT_STORE: &str = ".peakgate/store";

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's address is not one peakgate can open (the user's input: exit 2).
    #[error("store `{url}`: {why}")]
    Address { url: String, why: String },
    /// The backend refused or failed (network, permissions, a missing bucket): exit 5.
    #[error("store {url}: {what}: {source}")]
    Backend {
        url: String,
        what: String,
        #[source]
        source: object_store::Error,
    },
    /// A folder to put is not a judged run folder (the user's input: exit 2).
    #[error("{}: {why}", dir.display())]
    NotARun { dir: PathBuf, why: String },
    /// A folder to put is one shard of a sharded run: a share of the load, not a run (exit 2).
    #[error(
        "{}: shard {shard} of a sharded run is a share of the load, not a run: merge the shards with `peakgate merge --store URL SHARD_DIR...` to store the run they make together",
        dir.display()
    )]
    Shard {
        dir: PathBuf,
        shard: crate::plan::shard::Shard,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An index entry is not a peakgate entry.
    #[error("store {url}: {path}: not a peakgate history entry: {source}")]
    Entry {
        url: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// No run in the store matches what a `last-accepted` baseline asks for.
    #[error(
        "store {url}: no accepted run (verdict pass or warn, completed) of profile `{profile}`, target `{target}`{} to use as the baseline",
        tenant.as_ref().map(|t| format!(", tenant `{t}`")).unwrap_or_default()
    )]
    NoAccepted {
        url: String,
        profile: String,
        target: String,
        tenant: Option<String>,
    },
}

impl StoreError {
    /// True when the user's input is at fault (exit 2).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            StoreError::Address { .. }
                | StoreError::NotARun { .. }
                | StoreError::Shard { .. }
                | StoreError::NoAccepted { .. }
        )
    }
}

/// An open results store.
pub struct Store {
    /// The address as the user gave it (never holds credentials: those come from the env).
    pub url: String,
    /// The local root, for a directory store: its run folders are read in place.
    local: Option<PathBuf>,
    inner: Arc<dyn ObjectStore>,
}

impl Store {
    /// Opens `url` to put runs into it: a local directory is created when missing.
    pub fn create(url: &str) -> Result<Store, StoreError> {
        if !url.contains("://") || url.starts_with("file://") {
            let dir = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        Store::open(url)
    }

    /// Opens `url`: `s3://bucket[/prefix]` (AWS_* environment: credentials, AWS_REGION,
    /// AWS_ENDPOINT_URL and AWS_ALLOW_HTTP for an S3-compatible server), or a local
    /// directory (a path or `file:///path`) that must exist: reading never creates one, so a
    /// mistyped path is said, not listed as empty.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let bad = |why: String| StoreError::Address {
            url: url.to_string(),
            why,
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket: write s3://BUCKET[/PREFIX]".into()));
            }
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            let inner: Arc<dyn ObjectStore> = match prefix.trim_matches('/') {
                "" => Arc::new(s3),
                p => Arc::new(PrefixStore::new(s3, p)),
            };
            return Ok(Store {
                url: url.to_string(),
                local: None,
                inner,
            });
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(bad(
                "unknown scheme: the store is a local directory or s3://BUCKET[/PREFIX]".into(),
            ));
        }
        let Some(dir) = local_dir(url).filter(|d| d.is_dir()) else {
            return Err(bad(
                "no such directory (nothing was stored there yet: `peakgate store put` or `run --store` create it)".into(),
            ));
        };
        let fs = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
        Ok(Store {
            // Absolute: a verdict's baseline_choice names the store so that `report` finds
            // it from any working directory.
            url: dir.display().to_string(),
            local: Some(dir),
            inner: Arc::new(fs),
        })
    }

    fn backend(&self, what: impl Into<String>) -> impl FnOnce(object_store::Error) -> StoreError {
        let url = self.url.clone();
        let what = what.into();
        move |source| StoreError::Backend { url, what, source }
    }

    /// Puts a judged run folder (or a `--scale` parent) into the store: every file, then its
    /// index entry. Putting the same run again replaces it.
    pub async fn put(&self, dir: &Path) -> Result<Entry, StoreError> {
        let entry = Entry::from_dir(dir)?;
        let mut files = Vec::new();
        walk(dir, Path::new(""), &mut files)?;
        for rel in files {
            let local = dir.join(&rel);
            let bytes = std::fs::read(&local).map_err(|source| StoreError::Io {
                path: local.clone(),
                source,
            })?;
            let key = run_key(&entry.run_id, &rel);
            self.inner
                .put(&key, bytes.into())
                .await
                .map_err(self.backend(format!("cannot put {key}")))?;
        }
        let json = serde_json::to_vec_pretty(&entry).expect("an entry serializes");
        let key = index_key(&entry.run_id);
        self.inner
            .put(&key, json.into())
            .await
            .map_err(self.backend(format!("cannot put {key}")))?;
        Ok(entry)
    }

    /// Every run in the store, oldest first.
    pub async fn list(&self) -> Result<Vec<Entry>, StoreError> {
        let listed = self
            .inner
            .list_with_delimiter(Some(&ObjectPath::from("index")))
            .await
            .map_err(self.backend("cannot list index/"))?;
        let mut entries = Vec::with_capacity(listed.objects.len());
        for meta in listed.objects {
            if !meta.location.as_ref().ends_with(".json") {
                continue;
            }
            let bytes = self
                .inner
                .get(&meta.location)
                .await
                .map_err(self.backend(format!("cannot get {}", meta.location)))?
                .bytes()
                .await
                .map_err(self.backend(format!("cannot read {}", meta.location)))?;
            let entry: Entry =
                serde_json::from_slice(&bytes).map_err(|source| StoreError::Entry {
                    url: self.url.clone(),
                    path: meta.location.to_string(),
                    source,
                })?;
            entries.push(entry);
        }
        entries.sort_by(|a, b| a.started().cmp(&b.started()).then(a.run_id.cmp(&b.run_id)));
        Ok(entries)
    }

    /// A stored run as a local folder to open: in place for a directory store, else
    /// downloaded under `scratch`.
    pub async fn fetch(&self, run_id: &str, scratch: &Path) -> Result<PathBuf, StoreError> {
        if let Some(root) = &self.local {
            return Ok(root.join("runs").join(run_id));
        }
        let into = scratch.join(run_id);
        let mut pending = vec![ObjectPath::from(format!("runs/{run_id}"))];
        let base = format!("runs/{run_id}/");
        while let Some(prefix) = pending.pop() {
            let listed = self
                .inner
                .list_with_delimiter(Some(&prefix))
                .await
                .map_err(self.backend(format!("cannot list {prefix}/")))?;
            pending.extend(listed.common_prefixes);
            for meta in listed.objects {
                let key = meta.location.to_string();
                let rel = key.strip_prefix(&base).unwrap_or(&key);
                let local = into.join(rel);
                let bytes = self
                    .inner
                    .get(&meta.location)
                    .await
                    .map_err(self.backend(format!("cannot get {key}")))?
                    .bytes()
                    .await
                    .map_err(self.backend(format!("cannot read {key}")))?;
                if let Some(parent) = local.parent() {
                    std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                        path: parent.to_path_buf(),
                        source,
                    })?;
                }
                std::fs::write(&local, &bytes).map_err(|source| StoreError::Io {
                    path: local.clone(),
                    source,
                })?;
            }
        }
        Ok(into)
    }
}

fn run_key(run_id: &str, rel: &Path) -> ObjectPath {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    ObjectPath::from(format!("runs/{run_id}/{}", parts.join("/")))
}

fn index_key(run_id: &str) -> ObjectPath {
    ObjectPath::from(format!("index/{run_id}.json"))
}

/// Every file under `dir`, as paths relative to it.
fn walk(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    let here = dir.join(rel);
    let read = std::fs::read_dir(&here).map_err(|source| StoreError::Io {
        path: here.clone(),
        source,
    })?;
    for item in read {
        let item = item.map_err(|source| StoreError::Io {
            path: here.clone(),
            source,
        })?;
        let name = rel.join(item.file_name());
        let kind = item.file_type().map_err(|source| StoreError::Io {
            path: item.path(),
            source,
        })?;
        if kind.is_dir() {
            walk(dir, &name, out)?;
        } else if kind.is_file() {
            out.push(name);
        }
    }
    Ok(())
}

/// A local store's directory, made absolute; `None` for object storage.
pub fn local_dir(url: &str) -> Option<PathBuf> {
    if url.contains("://") && !url.starts_with("file://") {
        return None;
    }
    let dir = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
    Some(std::path::absolute(&dir).unwrap_or(dir))
}

/// A local store's directory when it does not exist yet: nothing was stored there, so it is
/// an empty store (`history` lists nothing, `last-accepted` finds no run).
pub fn missing_dir(url: &str) -> Option<PathBuf> {
    local_dir(url).filter(|d| !d.is_dir())
}

/// The store's address: the flag, else `PEAKGATE_STORE` (clap reads it), else
/// [`DEFAULT_STORE`].
pub fn address(flag: Option<&str>) -> String {
    flag.unwrap_or(DEFAULT_STORE).to_string()
}

/// Runs a store call from synchronous code (the CLI commands that have no runtime).
pub fn block_on<F: std::future::Future>(f: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

#[cfg(test)]
mod tests;
