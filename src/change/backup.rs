//! A backup tool's status, as the pipeline saved it to a file: `pgbackrest info
//! --output=json` (an array of stanzas, each with its `backup` list: `type` full / diff /
//! incr, `timestamp.stop` in Unix seconds, `error` when the backup found page errors) or
//! `wal-g backup-list --json [--detail]` (an array of backups: `backup_name`, delta backups
//! named `base_<wal>_D_<base wal>`, `time`, and with `--detail` `finish_time`, RFC 3339).
//! The format is recognised from the file's shape; a file of neither shape is an error at
//! its place (exit 2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::result::{Check, Status};

/// Seconds a backup may seem to finish after now (clocks a little apart) before the file is
/// doubted.
const FUTURE_TOLERANCE_S: f64 = 300.0;

/// Which tool wrote the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    PgBackRest,
    WalG,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::PgBackRest => "pgBackRest",
            Tool::WalG => "WAL-G",
        }
    }
}

/// The last full backup a status file shows.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupStatus {
    pub path: PathBuf,
    pub tool: Tool,
    /// The newest full backup without errors: its name and when it finished.
    pub last_full: Option<(String, Timestamp)>,
    /// Full backups the tool flagged with errors (pgBackRest `error: true`), left out.
    pub with_errors: Vec<String>,
    /// Stanzas whose status is not ok (pgBackRest), with the tool's message.
    pub unhealthy: Vec<String>,
}

#[derive(Deserialize)]
struct Stanza {
    name: String,
    #[serde(default)]
    status: Option<StanzaStatus>,
    #[serde(default)]
    backup: Vec<PgBackRestBackup>,
}

#[derive(Deserialize)]
struct StanzaStatus {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct PgBackRestBackup {
    label: String,
    #[serde(rename = "type")]
    kind: String,
    timestamp: StartStop,
    #[serde(default)]
    error: Option<bool>,
}

#[derive(Deserialize)]
struct StartStop {
    stop: i64,
}

#[derive(Deserialize)]
struct WalGBackup {
    backup_name: String,
    /// When the backup's sentinel was written to storage (RFC 3339).
    time: Option<String>,
    /// `--detail`: when the backup finished (RFC 3339).
    finish_time: Option<String>,
}

impl BackupStatus {
    pub fn load(path: &Path) -> Result<BackupStatus, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        BackupStatus::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<BackupStatus, ConfigError> {
        let at = |e: serde_json::Error, what: &str| ConfigError::At {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: format!("{what}: {e}"),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| at(e, "not JSON"))?;
        let shape = "neither `pgbackrest info --output=json` (an array of stanzas with `name` and `backup`) nor `wal-g backup-list --json` (an array of backups with `backup_name`)";
        let Some(items) = value.as_array() else {
            return Err(ConfigError::key(path, "(top level)", format!("is {shape}")));
        };
        let first = items.first();
        let is_walg = first.is_some_and(|v| v.get("backup_name").is_some());
        let is_pgbackrest =
            first.is_some_and(|v| v.get("backup").is_some() || v.get("name").is_some());
        let mut status = BackupStatus {
            path: path.to_path_buf(),
            tool: if is_walg {
                Tool::WalG
            } else {
                Tool::PgBackRest
            },
            last_full: None,
            with_errors: Vec::new(),
            unhealthy: Vec::new(),
        };
        if first.is_some() && !is_walg && !is_pgbackrest {
            return Err(ConfigError::key(path, "[0]", format!("is {shape}")));
        }
        if is_walg {
            let backups: Vec<WalGBackup> =
                serde_json::from_str(text).map_err(|e| at(e, "a WAL-G backup list"))?;
            for b in backups {
                // A delta backup's name carries its base: base_<wal>_D_<base wal>.
                if b.backup_name.contains("_D_") {
                    continue;
                }
                let (key, text) = match (b.finish_time, b.time) {
                    (Some(t), _) => ("finish_time", t),
                    (None, Some(t)) => ("time", t),
                    (None, None) => {
                        return Err(ConfigError::key(
                            path,
                            b.backup_name,
                            "has neither `finish_time` nor `time`: save the list with wal-g backup-list --json --detail",
                        ));
                    }
                };
                let at: Timestamp = text.parse().map_err(|e| {
                    ConfigError::key(
                        path,
                        format!("{}.{key}", b.backup_name),
                        format!("`{text}` is not an RFC 3339 time: {e}"),
                    )
                })?;
                status.newer(b.backup_name, at);
            }
        } else {
            let stanzas: Vec<Stanza> =
                serde_json::from_str(text).map_err(|e| at(e, "a pgBackRest info"))?;
            for s in stanzas {
                if let Some(st) = &s.status
                    && st.code != 0
                {
                    status.unhealthy.push(format!(
                        "stanza {}: {} (code {})",
                        s.name, st.message, st.code
                    ));
                }
                for b in s.backup {
                    if b.kind != "full" {
                        continue;
                    }
                    if b.error == Some(true) {
                        status.with_errors.push(b.label);
                        continue;
                    }
                    let at = Timestamp::from_second(b.timestamp.stop).map_err(|e| {
                        ConfigError::key(
                            path,
                            format!("{}.timestamp.stop", b.label),
                            format!("is no time: {e}"),
                        )
                    })?;
                    status.newer(format!("{}/{}", s.name, b.label), at);
                }
            }
        }
        Ok(status)
    }

    fn newer(&mut self, name: String, at: Timestamp) {
        if self.last_full.as_ref().is_none_or(|(_, t)| at > *t) {
            self.last_full = Some((name, at));
        }
    }

    /// The `backup_freshness` check: the last full backup no older than `max_age` at `now`.
    /// Observed: its age in hours.
    pub fn judge(&self, max_age: Duration, now: Timestamp, name: &str) -> Check {
        let max_h = max_age.as_secs_f64() / 3600.0;
        let source = format!("{} ({})", self.path.display(), self.tool.name());
        let mut notes = Vec::new();
        if !self.with_errors.is_empty() {
            notes.push(format!(
                "full backups flagged with errors left out: {}",
                self.with_errors.join(", ")
            ));
        }
        if !self.unhealthy.is_empty() {
            notes.push(self.unhealthy.join("; "));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        };
        let (status, observed, message) = match &self.last_full {
            None => (
                Status::Fail,
                None,
                format!("{source}: no full backup{notes}"),
            ),
            // More than a few minutes ahead of this machine: the file or a clock is wrong, and
            // the backup's age is unknown.
            Some((label, at)) if now.duration_since(*at).as_secs_f64() < -FUTURE_TOLERANCE_S => (
                Status::Fail,
                None,
                format!(
                    "{source}: last full backup {label} finished {at}, after now ({now}): the status file or a clock is wrong{notes}"
                ),
            ),
            Some((label, at)) => {
                let age_s = now.duration_since(*at).as_secs_f64();
                let age = humantime::format_duration(Duration::from_secs(age_s.max(0.0) as u64));
                let fresh = age_s <= max_age.as_secs_f64();
                (
                    if fresh && self.unhealthy.is_empty() {
                        Status::Pass
                    } else {
                        Status::Fail
                    },
                    Some(age_s / 3600.0),
                    format!(
                        "{source}: last full backup {label} finished {at} ({age} ago), the policy allows {}{}{notes}",
                        humantime::format_duration(max_age),
                        if fresh {
                            ""
                        } else {
                            ": too old, take a full backup before the change"
                        }
                    ),
                )
            }
        };
        Check {
            name: name.into(),
            status,
            observed,
            warn: None,
            fail: Some(max_h),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like `pgbackrest info --output=json` (pgBackRest 2.x): two stanzas' worth of
    /// keys, a full and a diff backup, and a newer full backup flagged with errors.
    pub(crate) const PGBACKREST: &str = r#"[{"archive":[{"database":{"id":1,"repo-key":1},"id":"16-1","max":"000000010000000000000007","min":"000000010000000000000001"}],
"backup":[
 {"archive":{"start":"000000010000000000000002","stop":"000000010000000000000002"},"backrest":{"format":5,"version":"2.54.0"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":24316343,"repository":{"delta":2969512,"size":2969512},"size":24316343},"label":"20261130-010000F","lsn":{"start":"0/2000028","stop":"0/2000100"},"prior":null,"reference":null,"timestamp":{"start":1796000400,"stop":1796000460},"type":"full"},
 {"database":{"id":1,"repo-key":1},"error":false,"label":"20261130-010000F_20261201-010000D","prior":"20261130-010000F","reference":["20261130-010000F"],"timestamp":{"start":1796086800,"stop":1796086830},"type":"diff"},
 {"database":{"id":1,"repo-key":1},"error":true,"label":"20261201-020000F","timestamp":{"start":1796090400,"stop":1796090460},"type":"full"}
],
"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7012345678901234567,"version":"16"}],"name":"retail","repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]"#;

    /// Shaped like `wal-g backup-list --json --detail`.
    pub(crate) const WALG: &str = r#"[{"backup_name":"base_000000010000000000000002","time":"2026-11-30T01:01:05.123456Z","wal_file_name":"000000010000000000000002","storage_name":"default","start_time":"2026-11-30T01:00:00.000000Z","finish_time":"2026-11-30T01:01:00.000000Z","date_fmt":"%Y-%m-%dT%H:%M:%S.%fZ","hostname":"db-0","data_dir":"/var/lib/postgresql/data","pg_version":160004,"start_lsn":33554472,"finish_lsn":33554688,"is_permanent":false,"system_identifier":7012345678901234567,"uncompressed_size":24316343,"compressed_size":2969512},
{"backup_name":"base_000000010000000000000009_D_000000010000000000000002","time":"2026-12-01T01:01:05Z","wal_file_name":"000000010000000000000009","storage_name":"default","start_time":"2026-12-01T01:00:00Z","finish_time":"2026-12-01T01:01:00Z","hostname":"db-0","pg_version":160004,"is_permanent":false}]"#;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn pgbackrest_gives_its_newest_full_backup_without_errors() {
        let s = BackupStatus::parse(Path::new("pgbackrest.json"), PGBACKREST).unwrap();
        assert_eq!(s.tool, Tool::PgBackRest);
        // 1796000460 = 2026-11-30T01:01:00Z; the diff is no full backup, the newer full one
        // has errors.
        assert_eq!(
            s.last_full,
            Some(("retail/20261130-010000F".into(), ts("2026-11-30T01:01:00Z")))
        );
        assert_eq!(s.with_errors, vec!["20261201-020000F".to_string()]);
        let fresh = s.judge(Duration::from_secs(86_400), ts("2026-12-01T00:00:00Z"), "b");
        assert_eq!(fresh.status, Status::Pass, "{}", fresh.message);
        assert!((fresh.observed.unwrap() - (22.0 + 59.0 / 60.0)).abs() < 1e-9);
        assert!(fresh.message.starts_with("pgbackrest.json (pgBackRest): last full backup retail/20261130-010000F finished 2026-11-30T01:01:00Z (22h 59m ago), the policy allows 1day; full backups flagged with errors left out: 20261201-020000F"), "{}", fresh.message);
        let future = s.judge(Duration::from_secs(86_400), ts("2026-11-30T00:00:00Z"), "b");
        assert_eq!((future.status, future.observed), (Status::Fail, None));
        assert!(
            future
                .message
                .contains("after now (2026-11-30T00:00:00Z): the status file or a clock is wrong"),
            "{}",
            future.message
        );
        let stale = s.judge(Duration::from_secs(86_400), ts("2026-12-02T00:00:00Z"), "b");
        assert_eq!(stale.status, Status::Fail);
        assert!(stale.message.contains("too old"), "{}", stale.message);
        assert_eq!(stale.fail, Some(24.0));
    }

    #[test]
    fn walg_gives_its_newest_full_backup_not_a_delta() {
        let s = BackupStatus::parse(Path::new("walg.json"), WALG).unwrap();
        assert_eq!(s.tool, Tool::WalG);
        assert_eq!(
            s.last_full,
            Some((
                "base_000000010000000000000002".into(),
                ts("2026-11-30T01:01:00Z")
            ))
        );
        let week = Duration::from_secs(7 * 86_400);
        assert_eq!(
            s.judge(week, ts("2026-12-01T12:00:00Z"), "b").status,
            Status::Pass
        );
        assert_eq!(
            s.judge(week, ts("2026-12-08T12:00:00Z"), "b").status,
            Status::Fail
        );
        // Without --detail, `time` stands in.
        let plain = r#"[{"backup_name":"base_00000001000000000000000A","time":"2026-12-01T03:00:00Z","wal_file_name":"00000001000000000000000A","storage_name":"default"}]"#;
        let s = BackupStatus::parse(Path::new("walg.json"), plain).unwrap();
        assert_eq!(s.last_full.unwrap().1, ts("2026-12-01T03:00:00Z"));
    }

    #[test]
    fn no_backup_or_an_unhealthy_stanza_fails() {
        let empty = BackupStatus::parse(Path::new("b.json"), "[]").unwrap();
        let c = empty.judge(Duration::from_secs(60), ts("2026-12-01T00:00:00Z"), "b");
        assert_eq!(c.status, Status::Fail);
        assert!(c.message.ends_with("no full backup"), "{}", c.message);
        let none =
            r#"[{"name":"retail","backup":[],"status":{"code":2,"message":"no valid backups"}}]"#;
        let s = BackupStatus::parse(Path::new("b.json"), none).unwrap();
        let c = s.judge(Duration::from_secs(60), ts("2026-12-01T00:00:00Z"), "b");
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.message
                .contains("stanza retail: no valid backups (code 2)"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_malformed_status_file_is_an_error_at_its_place() {
        let e = BackupStatus::parse(Path::new("b.json"), "[{\"backup_name\": 3,\n}]")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("b.json:2:1: "), "{e}");
        let e = BackupStatus::parse(Path::new("b.json"), "{\"stanza\": 1}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither `pgbackrest info --output=json`"), "{e}");
        let e = BackupStatus::parse(
            Path::new("b.json"),
            "[{\"name\":\"retail\",\"backup\":[{\"label\":\"x\",\"type\":\"full\"}]}]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("missing field `timestamp`"), "{e}");
        let e = BackupStatus::parse(Path::new("b.json"), "ERROR: [056]: unable to find primary")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("b.json:1:1: not JSON"), "{e}");
    }
}
