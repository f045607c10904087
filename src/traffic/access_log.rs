//! Access log lines: nginx's `combined` and Traefik's Common Log Format (same prefix), or
//! JSON lines (Traefik's JSON access log, nginx `escape=json` formats).

use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

/// One request of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// When it arrived, Unix seconds.
    pub unix_s: i64,
    pub method: String,
    pub path: String,
}

/// Which format to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Guess from each line: `{` starts JSON, anything else is CLF/combined.
    Auto,
    /// nginx `combined` / Traefik CLF.
    Clf,
    /// One JSON object per line.
    Json,
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no request could be read (first problem, line {line}: {message})", path.display())]
    Empty {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
}

/// Lines that could not be read: (line number, reason).
pub type Skipped = Vec<(usize, String)>;

/// Reads every request; returns them and the lines that could not be read.
pub fn read_log(path: &Path, format: LogFormat) -> Result<(Vec<Request>, Skipped), LogError> {
    let file = std::fs::File::open(path).map_err(|source| LogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut requests = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| LogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let json = match format {
            LogFormat::Auto => line.trim_start().starts_with('{'),
            LogFormat::Json => true,
            LogFormat::Clf => false,
        };
        match if json {
            parse_json(&line)
        } else {
            parse_clf(&line)
        } {
            Ok(r) => requests.push(r),
            Err(m) => bad.push((i + 1, m)),
        }
    }
    if requests.is_empty() {
        let (line, message) = bad
            .first()
            .cloned()
            .unwrap_or((0, "the file is empty".into()));
        return Err(LogError::Empty {
            path: path.to_path_buf(),
            line,
            message,
        });
    }
    Ok((requests, bad))
}

/// `127.0.0.1 - - [26/Nov/2026:10:00:01 +0100] "POST /path HTTP/1.1" 200 ...`
fn parse_clf(line: &str) -> Result<Request, String> {
    let open = line.find('[').ok_or("no [time]")?;
    let close = line[open..].find(']').ok_or("no closing ]")? + open;
    let time = &line[open + 1..close];
    let ts = jiff::fmt::strtime::parse("%d/%b/%Y:%H:%M:%S %z", time)
        .and_then(|t| t.to_timestamp())
        .map_err(|e| format!("time `{time}`: {e}"))?;
    let rest = &line[close + 1..];
    let q1 = rest.find('"').ok_or("no \"request\"")?;
    let q2 = rest[q1 + 1..].find('"').ok_or("unterminated \"request\"")? + q1 + 1;
    let mut parts = rest[q1 + 1..q2].split_whitespace();
    let method = parts.next().ok_or("empty request")?.to_string();
    let path = parts.next().ok_or("request without a path")?.to_string();
    Ok(Request {
        unix_s: ts.as_second(),
        method,
        path,
    })
}

/// A JSON line: Traefik (`StartUTC`, `RequestMethod`, `RequestPath`) or nginx-style
/// (`time_iso8601`/`time`, `request_method`/`method`, `request_uri`/`uri`/`request`).
fn parse_json(line: &str) -> Result<Request, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    };
    let time = text(&[
        "StartUTC",
        "StartLocal",
        "time_iso8601",
        "time",
        "timestamp",
        "@timestamp",
    ])
    .ok_or("no time field")?;
    let ts: jiff::Timestamp = time.parse().map_err(|e| format!("time `{time}`: {e}"))?;
    let (method, path) = match (
        text(&["RequestMethod", "request_method", "method"]),
        text(&["RequestPath", "request_uri", "uri", "path"]),
    ) {
        (Some(m), Some(p)) => (m, p),
        _ => {
            let request = text(&["request"]).ok_or("no method and path fields")?;
            let mut parts = request.split_whitespace();
            (
                parts.next().unwrap_or("").to_string(),
                parts.next().ok_or("no path in `request`")?.to_string(),
            )
        }
    };
    Ok(Request {
        unix_s: ts.as_second(),
        method,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_combined_and_traefik_clf_lines_parse() {
        let nginx = r#"10.0.0.7 - - [26/Nov/2026:10:00:01 +0100] "POST /web/dataset/call_kw/pos.order/create_from_ui HTTP/1.1" 200 512 "-" "Mozilla/5.0""#;
        let r = parse_clf(nginx).unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/web/dataset/call_kw/pos.order/create_from_ui")
        );
        assert_eq!(
            r.unix_s,
            "2026-11-26T09:00:01Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_second()
        );
        let traefik = r#"192.168.1.2 - - [26/Nov/2026:09:00:02 +0000] "GET /shop HTTP/2.0" 200 8411 "-" "curl" 42 "odoo@docker" "http://odoo:8069" 31ms"#;
        assert_eq!(parse_clf(traefik).unwrap().path, "/shop");
    }

    #[test]
    fn json_lines_parse_from_traefik_and_nginx_keys() {
        let t = r#"{"StartUTC":"2026-11-26T09:00:03.5Z","RequestMethod":"GET","RequestPath":"/shop/checkout"}"#;
        assert_eq!(parse_json(t).unwrap().path, "/shop/checkout");
        let n = r#"{"time_iso8601":"2026-11-26T10:00:04+01:00","request":"POST /shop/cart/update_json HTTP/1.1"}"#;
        let r = parse_json(n).unwrap();
        assert_eq!(
            (r.method.as_str(), r.unix_s),
            (
                "POST",
                "2026-11-26T09:00:04Z"
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .as_second()
            )
        );
        assert!(parse_json("{\"x\":1}").is_err());
    }
}
