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
    /// The UTC offset the log wrote that time in, seconds (0 for `Z` or no offset).
    pub offset_s: i32,
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
    #[error("{}: the requests span {span} (the earliest at line {first}, the latest at line {last}), more than the 7 days a profile covers: cut the log to the days to replay", path.display())]
    Span {
        path: std::path::PathBuf,
        span: String,
        first: usize,
        last: usize,
        /// The lines skipped before the span was measured (strays, unreadable lines), for
        /// the caller to say as it says them when a profile is written.
        skipped: Skipped,
    },
}

/// Lines that could not be read: (line number, reason).
pub type Skipped = Vec<(usize, String)>;

/// Longest span a log may cover around its median time: a line further away is a stray (a
/// clock reset, a line from another log), skipped. A profile's stages cover at most 7 days.
pub const MAX_SPAN_S: i64 = 7 * 24 * 3600;

/// Reads every request; returns them and the lines that could not be read. A log compressed
/// by logrotate (gzip, `access.log.2.gz`) is read as it is.
pub fn read_log(path: &Path, format: LogFormat) -> Result<(Vec<Request>, Skipped), LogError> {
    let read_error = |source| LogError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(read_error)?);
    // gzip's magic bytes, whatever the file is called.
    let gzip = file
        .fill_buf()
        .map_err(read_error)?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead> = if gzip {
        Box::new(std::io::BufReader::new(
            flate2::bufread::MultiGzDecoder::new(file),
        ))
    } else {
        Box::new(file)
    };
    let mut requests: Vec<(usize, Request)> = Vec::new();
    let mut bad = Vec::new();
    // Lines as bytes: one that is not UTF-8 (a stray byte in a user agent) is a bad line with
    // its number, like any line that does not parse, not the whole file refused.
    for (i, bytes) in reader.split(b'\n').enumerate() {
        let bytes = bytes.map_err(|source| LogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let Ok(line) = std::str::from_utf8(&bytes) else {
            bad.push((i + 1, "not UTF-8 text".to_string()));
            continue;
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let json = match format {
            LogFormat::Auto => line.trim_start().starts_with('{'),
            LogFormat::Json => true,
            LogFormat::Clf => false,
        };
        match if json {
            parse_json(line)
        } else {
            parse_clf(line)
        } {
            Ok(r) => requests.push((i + 1, r)),
            Err(m) => bad.push((i + 1, m)),
        }
    }
    let requests = drop_strays(requests, &mut bad);
    let earliest = requests.iter().min_by_key(|(_, r)| r.unix_s);
    let latest = requests.iter().max_by_key(|(_, r)| r.unix_s);
    if let (Some((first, a)), Some((last, b))) = (earliest, latest)
        && b.unix_s - a.unix_s > MAX_SPAN_S
    {
        return Err(LogError::Span {
            path: path.to_path_buf(),
            span: humantime::format_duration(std::time::Duration::from_secs(
                (b.unix_s - a.unix_s) as u64,
            ))
            .to_string(),
            first: *first,
            last: *last,
            skipped: bad,
        });
    }
    let requests: Vec<Request> = requests.into_iter().map(|(_, r)| r).collect();
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

/// Keeps the requests within [`MAX_SPAN_S`] of the log's median time; the others are skipped
/// lines, each with its time and why.
fn drop_strays(requests: Vec<(usize, Request)>, bad: &mut Skipped) -> Vec<(usize, Request)> {
    let mut times: Vec<i64> = requests.iter().map(|(_, r)| r.unix_s).collect();
    times.sort_unstable();
    let Some(&median) = times.get(times.len() / 2) else {
        return Vec::new();
    };
    let shown = |t: i64| jiff::Timestamp::from_second(t).map_or(t.to_string(), |t| t.to_string());
    let mut kept = Vec::with_capacity(requests.len());
    for (line, r) in requests {
        if (r.unix_s - median).abs() > MAX_SPAN_S {
            bad.push((
                line,
                format!(
                    "its time {} is more than 7 days from the log's median time {} (a stray line: a profile covers at most 7 days)",
                    shown(r.unix_s),
                    shown(median)
                ),
            ));
        } else {
            kept.push((line, r));
        }
    }
    bad.sort_by_key(|(line, _)| *line);
    kept
}

/// `127.0.0.1 - - [26/Nov/2026:10:00:01 +0100] "POST /path HTTP/1.1" 200 ...`
fn parse_clf(line: &str) -> Result<Request, String> {
    let open = line.find('[').ok_or("no [time]")?;
    let close = line[open..].find(']').ok_or("no closing ]")? + open;
    let time = &line[open + 1..close];
    let parsed = jiff::fmt::strtime::parse("%d/%b/%Y:%H:%M:%S %z", time)
        .map_err(|e| format!("time `{time}`: {e}"))?;
    let ts = parsed
        .to_timestamp()
        .map_err(|e| format!("time `{time}`: {e}"))?;
    let offset_s = parsed.offset().map_or(0, |o| o.seconds());
    let rest = &line[close + 1..];
    let q1 = rest.find('"').ok_or("no \"request\"")?;
    let q2 = rest[q1 + 1..].find('"').ok_or("unterminated \"request\"")? + q1 + 1;
    let mut parts = rest[q1 + 1..q2].split_whitespace();
    let method = parts.next().ok_or("empty request")?.to_string();
    let path = parts.next().ok_or("request without a path")?.to_string();
    Ok(Request {
        unix_s: ts.as_second(),
        offset_s,
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
    let offset_s = match jiff::fmt::temporal::Pieces::parse(time.as_str()).map(|p| p.offset()) {
        Ok(Some(jiff::fmt::temporal::PiecesOffset::Numeric(n))) => n.offset().seconds(),
        _ => 0,
    };
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
        offset_s,
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

    fn clf(at: &str, path: &str) -> String {
        format!(r#"10.0.0.7 - - [{at}] "GET {path} HTTP/1.1" 200 512 "-" "curl""#)
    }

    #[test]
    fn a_gzip_rotated_log_reads_like_the_plain_one() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let text = [
            clf("26/Nov/2026:10:00:01 +0000", "/shop"),
            clf("26/Nov/2026:10:01:02 +0000", "/shop/cart"),
        ]
        .join("\n");
        let plain = dir.path().join("access.log.1");
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("access.log.2.gz");
        let mut enc =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let (a, _) = read_log(&plain, LogFormat::Auto).unwrap();
        let (b, bad) = read_log(&gz, LogFormat::Auto).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.len(), 2);
        assert!(bad.is_empty(), "{bad:?}");
    }

    #[test]
    fn a_log_spanning_more_than_7_days_is_refused_with_the_lines_that_bound_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        // A line every 2 days over 10 days: no stray, but more than a profile covers.
        let text: Vec<String> = (0..6)
            .map(|d| {
                clf(
                    &format!("{:02}/Nov/2026:10:00:00 +0000", 16 + 2 * d),
                    "/shop",
                )
            })
            .collect();
        std::fs::write(&log, text.join("\n")).unwrap();
        let e = read_log(&log, LogFormat::Auto).unwrap_err().to_string();
        assert!(
            e.contains("span 10days") && e.contains("line 1") && e.contains("line 6"),
            "{e}"
        );
    }

    #[test]
    fn a_span_refusal_after_skipping_strays_carries_the_skipped_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        // 8 days of lines, close enough to the median to stay, and one from 1970.
        let mut text: Vec<String> = (0..5)
            .map(|d| {
                clf(
                    &format!("{:02}/Nov/2026:10:00:00 +0000", 20 + 2 * d),
                    "/shop",
                )
            })
            .collect();
        text.insert(2, clf("01/Jan/1970:00:00:00 +0000", "/shop"));
        text.insert(4, "garbage".to_string());
        std::fs::write(&log, text.join("\n")).unwrap();
        let e = read_log(&log, LogFormat::Auto).unwrap_err();
        let LogError::Span { skipped, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(
            skipped.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [3, 5],
            "{skipped:?}"
        );
        assert!(skipped[0].1.contains("1970-01-01T00:00:00Z"), "{skipped:?}");
    }

    #[test]
    fn a_line_that_is_not_utf8_is_skipped_with_its_number_plain_or_gzip() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = clf("26/Nov/2026:10:00:01 +0000", "/shop").into_bytes();
        bytes.extend_from_slice(b"\r\n10.0.0.7 - - [26/Nov/2026:10:00:02 +0000] \"GET /shop HTTP/1.1\" 200 512 \"-\" \"Mozi\xffla\"\n");
        bytes.extend_from_slice(clf("26/Nov/2026:10:01:02 +0000", "/shop/cart").as_bytes());
        let plain = dir.path().join("access.log");
        std::fs::write(&plain, &bytes).unwrap();
        let gz = dir.path().join("access.log.2.gz");
        let mut enc =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        enc.write_all(&bytes).unwrap();
        enc.finish().unwrap();
        for path in [&plain, &gz] {
            let (requests, bad) = read_log(path, LogFormat::Auto).unwrap();
            assert_eq!(requests.len(), 2, "{path:?}");
            assert_eq!(bad, vec![(2, "not UTF-8 text".to_string())], "{path:?}");
        }
    }

    #[test]
    fn a_stray_line_far_in_time_is_skipped_not_planned_for() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let text = [
            clf("26/Nov/2026:10:00:01 +0000", "/shop"),
            clf("01/Jan/1970:00:00:00 +0000", "/shop"),
            clf("26/Nov/2026:10:01:02 +0000", "/shop/cart"),
            clf("26/Nov/2026:10:02:03 +0000", "/shop"),
        ]
        .join("\n");
        std::fs::write(&log, text).unwrap();
        let (requests, bad) = read_log(&log, LogFormat::Auto).unwrap();
        assert_eq!(requests.len(), 3);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 2, "{bad:?}");
        assert!(bad[0].1.contains("1970-01-01T00:00:00Z"), "{bad:?}");
        // The demand spans the three real minutes, not 56 years of them.
        assert_eq!(
            crate::traffic::Demand::from_requests(&requests)
                .minutes
                .len(),
            3
        );
    }
}
