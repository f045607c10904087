//! Session storage for the PostgreSQL backend: in memory, or in Redis the way camptocamp's
//! `session_redis` keeps them (`session:<prefix>:<sid>` holding JSON, with an expiry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{Value, json};

/// Expiry of a logged-in session (session_redis: 7 days).
const USER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Expiry of an anonymous visitor's session (session_redis: 3 hours).
const ANONYMOUS_TTL: Duration = Duration::from_secs(3 * 3600);

/// A session's content.
#[derive(Debug, Clone, Default)]
pub struct SessionData {
    pub uid: Option<i64>,
}

/// Where sessions live.
pub enum SessionStore {
    Memory(Mutex<HashMap<String, SessionData>>),
    Redis {
        conn: redis::aio::ConnectionManager,
        prefix: String,
    },
}

/// A session store failure: Redis unreachable or a value that is not a session.
#[derive(Debug, thiserror::Error)]
#[error("session store: {0}")]
pub struct SessionError(String);

impl SessionStore {
    /// Connects to Redis at `url`, or keeps sessions in memory when `url` is `None`.
    pub async fn open(url: Option<&str>, prefix: &str) -> Result<SessionStore, SessionError> {
        let Some(url) = url else {
            return Ok(SessionStore::Memory(Mutex::new(HashMap::new())));
        };
        let client = redis::Client::open(url).map_err(|e| SessionError(format!("{url}: {e}")))?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| SessionError(format!("cannot connect to Redis: {e}")))?;
        Ok(SessionStore::Redis {
            conn,
            prefix: prefix.to_string(),
        })
    }

    /// Reads a session.
    pub async fn get(&self, sid: &str) -> Result<Option<SessionData>, SessionError> {
        match self {
            SessionStore::Memory(map) => Ok(map
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(sid)
                .cloned()),
            SessionStore::Redis { conn, prefix } => {
                let raw: Option<String> = conn
                    .clone()
                    .get(format!("session:{prefix}:{sid}"))
                    .await
                    .map_err(|e| SessionError(e.to_string()))?;
                Ok(raw
                    .and_then(|r| serde_json::from_str::<Value>(&r).ok())
                    .map(|v| SessionData {
                        uid: v.get("uid").and_then(Value::as_i64),
                    }))
            }
        }
    }

    /// Writes a session with session_redis's expiry; `padding` bytes of context ride along
    /// (the `session-bloat` variant).
    pub async fn put(
        &self,
        sid: &str,
        data: &SessionData,
        login: &str,
        padding: usize,
    ) -> Result<(), SessionError> {
        match self {
            SessionStore::Memory(map) => {
                map.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(sid.to_string(), data.clone());
                Ok(())
            }
            SessionStore::Redis { conn, prefix } => {
                let ttl = if data.uid.is_some() {
                    USER_TTL
                } else {
                    ANONYMOUS_TTL
                };
                let body = json!({
                    "uid": data.uid,
                    "login": data.uid.map(|_| login),
                    "context": {"lang": "en_US", "tz": "Europe/Brussels"},
                    "debug": "",
                    "cache": "x".repeat(padding),
                });
                conn.clone()
                    .set_ex::<_, _, ()>(
                        format!("session:{prefix}:{sid}"),
                        body.to_string(),
                        ttl.as_secs(),
                    )
                    .await
                    .map_err(|e| SessionError(e.to_string()))
            }
        }
    }
}
