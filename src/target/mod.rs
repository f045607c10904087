//! target: what peakgate learns from, and prepares on, the Odoo it is about to drive, before
//! any load: the preflight (reachable, its version, the login, the database), the data the
//! scenarios need (`discover`, stored as `target-data.json`), and the POS sessions the tills
//! sell into (`pos`: opened before the load, closed after it so their orders are posted).

pub mod data;
pub mod discover;
pub mod pos;
pub mod preflight;

use std::collections::BTreeSet;

use crate::config::ConfigError;
use crate::config::profile::ProfileSource;
use crate::odoo::{OdooClient, UserSession};
use crate::plan::{Credentials, Overrides, Plan, Secret};
use crate::result::{PreparedAction, StoredTable, TARGET_DATA_SCHEMA, TargetData};
use data::DataSets;
use pos::PosSession;
use preflight::Preflight;

/// Who the run logs in as, before the database is known.
#[derive(Debug, Clone)]
pub struct Login {
    pub login: String,
    pub password: Secret,
    /// Where the password came from, for messages (`ODOO_PASSWORD`).
    pub password_env: String,
}

/// What the run knows and holds on the target once it is prepared.
pub struct Prepared {
    pub preflight: Preflight,
    /// Journeys' credentials (with the database the preflight settled on).
    pub credentials: Option<Credentials>,
    /// The record written as `target-data.json`.
    pub target_data: TargetData,
    /// POS sessions to close after the load.
    pub pos_sessions: Vec<PosSession>,
}

/// Why the target cannot be driven: one line, exit 2, nothing judged.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("preflight: {0}")]
    Preflight(#[from] preflight::PreflightError),
    #[error("preflight: {0}")]
    Discovery(#[from] discover::DiscoveryError),
    #[error("preflight: {0}")]
    Data(ConfigError),
    #[error("preflight: {0}")]
    Pos(#[from] pos::PosError),
    #[error(
        "preflight: the scenarios draw from the target's data ({0}), which needs a login: set the password variable, or replace those data sets with CSV files in [data]"
    )]
    NoLogin(String),
}

impl Prepared {
    /// Checks the target, reads what the scenarios need and opens the POS sessions they sell
    /// into; returns the plan to run (compiled for the target's version, drawing from its
    /// data) and what the run holds on the target.
    pub async fn prepare(
        client: &OdooClient,
        src: &ProfileSource,
        overrides: &Overrides,
        declared: Option<&str>,
        database: Option<&str>,
        login: Option<&Login>,
    ) -> Result<(Plan, Prepared), PrepareError> {
        let creds = login.map(|l| Credentials {
            database: String::new(),
            login: l.login.clone(),
            password: l.password.clone(),
        });
        let password_env = login.map_or("ODOO_PASSWORD", |l| l.password_env.as_str());
        let preflight =
            preflight::check(client, declared, creds.as_ref(), database, password_env).await?;
        let mut o = overrides.clone();
        o.server_version = Some(preflight.version.serie());
        o.database = preflight.database.clone().or(o.database);
        let versioned = Plan::build(src, &o, &DataSets::offline()).map_err(PrepareError::Data)?;
        let wanted: BTreeSet<String> = versioned
            .datasets()
            .into_iter()
            .filter(|d| !src.file.data.contains_key(d))
            .collect();
        let major = preflight.version.major;
        let started = std::time::Instant::now();
        let (mut data, calls) = match (&preflight.session, wanted.is_empty()) {
            (_, true) => (DataSets::online(Default::default()), 0),
            (Some(s), false) => {
                let d = discover::discover(client, s, major, &wanted).await?;
                (d.data, d.calls)
            }
            (None, false) => {
                return Err(PrepareError::NoLogin(
                    wanted.into_iter().collect::<Vec<_>>().join(", "),
                ));
            }
        };
        let discovery_ms = started.elapsed().as_millis() as u64;
        // Refused here when a data set a scenario needs is empty, before anything is opened.
        Plan::build(src, &o, &data).map_err(PrepareError::Data)?;
        let mut preparation = Vec::new();
        let mut pos_sessions = Vec::new();
        if let (Some(session), Some(configs)) = (
            &preflight.session,
            wanted
                .contains("pos_sessions")
                .then(|| data.get("pos_sessions"))
                .flatten(),
        ) {
            let (table, sessions, actions) = pos::open(client, session, major, &configs).await?;
            data.insert("pos_sessions", table);
            pos_sessions = sessions;
            preparation = actions;
        }
        let plan = Plan::build(src, &o, &data).map_err(PrepareError::Data)?;
        let credentials = creds.map(|c| Credentials {
            database: preflight.database.clone().unwrap_or_default(),
            ..c
        });
        let target_data = TargetData {
            schema: TARGET_DATA_SCHEMA.into(),
            url: client.base().as_str().trim_end_matches('/').to_string(),
            server_version: preflight.version.text.clone(),
            odoo_version: preflight.version.serie(),
            database: preflight.database.clone().unwrap_or_default(),
            login: login.map(|l| l.login.clone()).unwrap_or_default(),
            uid: preflight
                .session
                .as_ref()
                .map_or(serde_json::Value::Null, |s| s.uid.clone()),
            discovery_calls: calls,
            discovery_ms,
            datasets: data
                .iter()
                .filter(|(name, _)| plan.datasets().contains(*name))
                .map(|(name, t)| (name.clone(), StoredTable::from(t.as_ref())))
                .collect(),
            overrides: src
                .file
                .data
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect(),
            preparation,
        };
        Ok((
            plan,
            Prepared {
                preflight,
                credentials,
                target_data,
                pos_sessions,
            },
        ))
    }

    /// The preflight's login, handed to the load so its first journey does not log in again.
    pub fn login_session(&self) -> Option<UserSession> {
        self.preflight.session.clone()
    }

    /// Leaves the POS sessions the run opened open, saying `why`; the actions are added to the
    /// record. A shard's sessions are other shards' too: closing them when this shard's load
    /// ends would fail the orders other shards still post.
    pub fn leave_open(&mut self, why: &str) -> Vec<PreparedAction> {
        // Every session is said, as a closing run says each: one another shard opened first
        // (found already open) is left open too.
        let done: Vec<PreparedAction> = self
            .pos_sessions
            .iter()
            .map(|s| PreparedAction {
                action: format!(
                    "leave pos.session {} on config {:?} open",
                    s.session_id, s.config_name
                ),
                ok: true,
                detail: if s.opened_by_run {
                    why.to_string()
                } else {
                    "it was open before this shard's run: whoever opened it closes it".into()
                },
                duration_ms: 0,
            })
            .collect();
        self.target_data.preparation.extend(done.iter().cloned());
        self.pos_sessions.clear();
        done
    }

    /// Closes the POS sessions the run sold into; the actions are added to the record.
    pub async fn clean_up(&mut self, client: &OdooClient) -> Vec<PreparedAction> {
        let Some(session) = &self.preflight.session else {
            return Vec::new();
        };
        let done = pos::close(
            client,
            session,
            self.preflight.version.major,
            &self.pos_sessions,
        )
        .await;
        self.target_data.preparation.extend(done.iter().cloned());
        self.pos_sessions.clear();
        done
    }
}
