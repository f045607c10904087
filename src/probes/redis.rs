//! The Redis probe: `INFO` (the fields operators watch, counters as rates, and the keys of
//! every database as `keys`) and the `PING` round trip, on one multiplexed connection.

use std::collections::HashMap;

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use super::runner::Probe;
use super::track::{Reading, Readings};
use crate::plan::ProbeSpec;

/// `INFO` field → series, and whether it is a counter (kept as a per-second rate).
const FIELDS: [(&str, &str, bool); 11] = [
    ("connected_clients", "connected_clients", false),
    ("blocked_clients", "blocked_clients", false),
    ("rejected_connections", "rejected_connections_per_s", true),
    ("used_memory", "used_memory_bytes", false),
    ("maxmemory", "maxmemory_bytes", false),
    ("mem_fragmentation_ratio", "mem_fragmentation_ratio", false),
    ("evicted_keys", "evicted_keys_per_s", true),
    ("expired_keys", "expired_keys_per_s", true),
    ("keyspace_hits", "keyspace_hits_per_s", true),
    ("keyspace_misses", "keyspace_misses_per_s", true),
    (
        "instantaneous_ops_per_sec",
        "instantaneous_ops_per_sec",
        false,
    ),
];

pub struct RedisProbe {
    client: Result<redis::Client, String>,
    config: AsyncConnectionConfig,
    conn: Option<MultiplexedConnection>,
}

impl RedisProbe {
    pub fn new(spec: &ProbeSpec) -> Self {
        let client = spec
            .url
            .as_ref()
            .ok_or_else(|| "no URL".to_string())
            .and_then(|u| redis::Client::open(u.expose()).map_err(|e| e.to_string()));
        RedisProbe {
            client,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(spec.timeout))
                .set_response_timeout(Some(spec.timeout)),
            conn: None,
        }
    }
}

impl Probe for RedisProbe {
    async fn connect(&mut self) -> Result<(), String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        self.conn = Some(conn);
        Ok(())
    }

    async fn sample(&mut self) -> Result<Readings, String> {
        let conn = self.conn.as_mut().ok_or("not connected")?;
        let sent = Instant::now();
        redis::cmd("PING")
            .query_async::<String>(conn)
            .await
            .map_err(|e| e.to_string())?;
        let ping_ms = sent.elapsed().as_secs_f64() * 1000.0;
        let info: String = redis::cmd("INFO")
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = readings(&info);
        out.push(("ping_ms".into(), Reading::Gauge(ping_ms)));
        Ok(out)
    }

    fn disconnect(&mut self) {
        self.conn = None;
    }

    fn missing(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The watched fields of an `INFO` answer.
fn readings(info: &str) -> Readings {
    let fields: HashMap<&str, &str> = info
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().split_once(':'))
        .collect();
    // `# Keyspace` has a line per database that holds keys: `db0:keys=12,expires=12,...`.
    // `used_memory` is the server's, so the keys are too: Σ over every database.
    let keys: f64 = fields
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix("db")
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|(_, v)| {
            v.split(',')
                .find_map(|kv| kv.strip_prefix("keys="))
                .and_then(|n| n.parse::<f64>().ok())
        })
        .sum();
    let keys = info
        .contains("# Keyspace")
        .then(|| ("keys".to_string(), Reading::Gauge(keys)));
    FIELDS
        .iter()
        .filter_map(|(field, series, counter)| {
            let v: f64 = fields.get(field)?.parse().ok()?;
            let r = if *counter {
                Reading::Counter(v)
            } else {
                Reading::Gauge(v)
            };
            Some((series.to_string(), r))
        })
        .chain(keys)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_become_gauges_and_counters() {
        let info = "# Clients\r\nconnected_clients:7\r\nblocked_clients:0\r\n# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:0\r\nmem_fragmentation_ratio:1.25\r\n# Stats\r\nkeyspace_hits:40\r\nrejected_connections:2\r\n";
        let r = readings(info);
        let get = |n: &str| r.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
        assert_eq!(get("connected_clients"), Some(Reading::Gauge(7.0)));
        assert_eq!(get("used_memory_bytes"), Some(Reading::Gauge(1_048_576.0)));
        assert_eq!(get("mem_fragmentation_ratio"), Some(Reading::Gauge(1.25)));
        assert_eq!(get("keyspace_hits_per_s"), Some(Reading::Counter(40.0)));
        assert_eq!(
            get("rejected_connections_per_s"),
            Some(Reading::Counter(2.0))
        );
        assert_eq!(get("evicted_keys_per_s"), None);
        // No `# Keyspace` section (e.g. `INFO memory` only): no key count, rather than 0.
        assert_eq!(get("keys"), None);
    }

    #[test]
    fn keys_are_summed_over_every_database_of_the_keyspace_section() {
        let info = "# Memory\r\nused_memory:10\r\n# Keyspace\r\ndb0:keys=12,expires=12,avg_ttl=0,subexpiry=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n";
        let r = readings(info);
        let get = |n: &str| r.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
        assert_eq!(get("keys"), Some(Reading::Gauge(17.0)));
        // An empty server still has the section header, and 0 keys.
        let r = readings("# Keyspace\r\n");
        assert_eq!(r, vec![("keys".to_string(), Reading::Gauge(0.0))]);
    }
}
