//! Session storage of the PostgreSQL backend in Redis, the way camptocamp's `session_redis`
//! keeps Odoo's sessions (`session:<prefix>:<sid>` holding JSON, with an expiry). The memory
//! backend decides who is logged in; Redis carries what a real deployment stores and reads
//! on every request.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::Value;

/// Expiry of a logged-in session (session_redis: 7 days).
const USER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Expiry of an anonymous visitor's session (session_redis: 3 hours).
const ANONYMOUS_TTL: Duration = Duration::from_secs(3 * 3600);

/// Sessions in Redis.
pub struct SessionStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

/// A session store failure: Redis unreachable or a value that is not a session.
#[derive(Debug, thiserror::Error)]
#[error("session store: {0}")]
pub struct SessionError(String);

impl SessionStore {
    /// Connects to Redis at `url`; keys are `session:<prefix>:<sid>`.
    pub async fn open(url: &str, prefix: &str) -> Result<SessionStore, SessionError> {
        let client = redis::Client::open(url).map_err(|e| SessionError(format!("{url}: {e}")))?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(|e| SessionError(format!("cannot connect to Redis: {e}")))?;
        Ok(SessionStore {
            conn,
            prefix: prefix.to_string(),
        })
    }

    /// Reads a session (`None` when Redis has none, or holds something else under its key).
    pub async fn get(&self, sid: &str) -> Result<Option<Value>, SessionError> {
        let raw: Option<String> = self
            .conn
            .clone()
            .get(format!("session:{}:{sid}", self.prefix))
            .await
            .map_err(|e| SessionError(e.to_string()))?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Writes a session with session_redis's expiry (a user's or a visitor's, by its `uid`).
    pub async fn put(&self, sid: &str, session: &Value) -> Result<(), SessionError> {
        let ttl = if session.get("uid").is_some_and(|u| !u.is_null()) {
            USER_TTL
        } else {
            ANONYMOUS_TTL
        };
        self.conn
            .clone()
            .set_ex::<_, _, ()>(
                format!("session:{}:{sid}", self.prefix),
                session.to_string(),
                ttl.as_secs(),
            )
            .await
            .map_err(|e| SessionError(e.to_string()))
    }
}
