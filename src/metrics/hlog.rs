//! The HdrHistogram interval log (`latency.hlog`): one tagged interval per step per second,
//! flushed as the run goes, so an interrupted run keeps what it measured.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Writes intervals of microsecond latency histograms.
pub struct HlogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    header_written: bool,
    start: SystemTime,
}

impl<W: Write> HlogWriter<W> {
    /// A log whose intervals are offsets from `start` (the run's t0, wall clock).
    pub fn new(out: W, start: SystemTime) -> Self {
        HlogWriter {
            out,
            serializer: V2DeflateSerializer::new(),
            header_written: false,
            start,
        }
    }

    /// Appends one interval tagged `tag` (a step name) and flushes.
    pub fn interval(
        &mut self,
        tag: &str,
        histogram: &Histogram<u64>,
        start_offset: Duration,
        length: Duration,
    ) -> std::io::Result<()> {
        if !self.header_written {
            // The header once: comment, start and base time, and the divisor that makes the
            // interval max column milliseconds.
            IntervalLogWriterBuilder::new()
                .add_comment("peakgate latency log: histogram values in microseconds from each request's intended start; interval max in milliseconds")
                .with_start_time(self.start)
                .with_base_time(self.start)
                .with_max_value_divisor(MAX_DIVISOR)
                .begin_log_with(&mut self.out, &mut self.serializer)?;
            self.header_written = true;
        }
        // Each interval line as the format has it (`Tag=`, start, length, max / divisor, the
        // base64 of the compressed histogram), written here so that every line, not only the
        // first, uses the header's divisor.
        let mut encoded = Vec::new();
        self.serializer
            .serialize(histogram, &mut encoded)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let tag = Tag::new(tag).map_or(String::new(), |t| format!("Tag={},", t.as_str()));
        writeln!(
            self.out,
            "{tag}{:.3},{:.3},{:.3},{}",
            start_offset.as_secs_f64(),
            length.as_secs_f64(),
            histogram.max() as f64 / MAX_DIVISOR,
            base64::engine::general_purpose::STANDARD.encode(&encoded)
        )?;
        self.out.flush()
    }
}

/// Interval max values are written in milliseconds (the histograms hold microseconds).
const MAX_DIVISOR: f64 = 1000.0;

/// Why an interval log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    #[error("line {line}: {message}")]
    Entry { line: usize, message: String },
}

/// One interval of a log as stored: its line, tag, start offset from the log's start, and its
/// compressed histogram (a few hundred bytes; decoded when asked, so a long log held whole
/// costs what its file does, not a full histogram per interval).
pub struct Interval {
    pub line: usize,
    pub tag: String,
    pub start: Duration,
    /// How long the interval lasts (1 s as peakgate writes them).
    pub length: Duration,
    encoded: Vec<u8>,
}

impl Interval {
    /// An interval of `histogram` (µs) tagged `tag`, starting `start` after the log's start.
    pub fn new(tag: &str, start: Duration, histogram: &Histogram<u64>) -> std::io::Result<Self> {
        let mut encoded = Vec::new();
        V2DeflateSerializer::new()
            .serialize(histogram, &mut encoded)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        Ok(Interval {
            line: 0,
            tag: tag.to_string(),
            start,
            length: Duration::from_secs(1),
            encoded,
        })
    }

    /// The interval's histogram (µs).
    pub fn histogram(&self, deserializer: &mut Deserializer) -> Result<Histogram<u64>, HlogError> {
        deserializer
            .deserialize(&mut &self.encoded[..])
            .map_err(|e| HlogError::Entry {
                line: self.line,
                message: format!("{e:?}"),
            })
    }
}

/// A histogram that grows to any value, with the precision peakgate records at.
fn empty() -> Histogram<u64> {
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

/// Reads an interval log and merges every interval of a tag into one histogram: exact,
/// because HDR histograms add without loss.
pub fn read_merged(log: &[u8]) -> Result<BTreeMap<String, Histogram<u64>>, HlogError> {
    read_kept(log, |_, _| true)
}

/// Like [`read_merged`], keeping only the intervals that lie wholly inside one of `windows`
/// (`(from_s, to_s)` from t0): a second that straddles a window's edge belongs to neither
/// side, so a phase's histogram holds only that phase's requests.
pub fn read_windows(
    log: &[u8],
    windows: &[(f64, f64)],
) -> Result<BTreeMap<String, Histogram<u64>>, HlogError> {
    const EPS: f64 = 1e-6;
    read_kept(log, |start, length| {
        windows
            .iter()
            .any(|(from, to)| start + EPS >= *from && start + length <= *to + EPS)
    })
}

/// Merges per tag the intervals `keep(start_s, length_s)` accepts.
fn read_kept(
    log: &[u8],
    keep: impl Fn(f64, f64) -> bool,
) -> Result<BTreeMap<String, Histogram<u64>>, HlogError> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for interval in read_intervals(log)? {
        if !keep(interval.start.as_secs_f64(), interval.length.as_secs_f64()) {
            continue;
        }
        let h = interval.histogram(&mut deserializer)?;
        let into = merged.entry(interval.tag).or_insert_with(empty);
        into.add(&h).map_err(|e| HlogError::Entry {
            line: interval.line,
            message: format!("{e:?}"),
        })?;
    }
    Ok(merged)
}

/// Reads every interval of a log, in order, its histograms still compressed.
pub fn read_intervals(log: &[u8]) -> Result<Vec<Interval>, HlogError> {
    let mut out = Vec::new();
    for (i, entry) in IntervalLogIterator::new(log).enumerate() {
        let err = |message: String| HlogError::Entry {
            line: i + 1,
            message,
        };
        let LogEntry::Interval(interval) = entry.map_err(|e| err(format!("{e:?}")))? else {
            continue;
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| err(e.to_string()))?;
        let tag = interval
            .tag()
            .map_or_else(String::new, |t| t.as_str().to_string());
        out.push(Interval {
            line: i + 1,
            tag,
            start: interval.start_timestamp(),
            length: interval.duration(),
            encoded,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_back_with_their_tags_and_counts() {
        let mut buf = Vec::new();
        let mut w = HlogWriter::new(
            &mut buf,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in [100, 200, 300] {
            h.record(v).unwrap();
        }
        w.interval(
            "pos_order_sync/create_from_ui",
            &h,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .unwrap();
        w.interval(
            "backoffice_sale/create",
            &h,
            Duration::from_secs(2),
            Duration::from_secs(1),
        )
        .unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert_eq!(text.matches("#[StartTime").count(), 1);
        let merged = read_merged(&buf).unwrap();
        let counts: Vec<(String, u64)> = merged.iter().map(|(k, h)| (k.clone(), h.len())).collect();
        assert_eq!(
            counts,
            vec![
                ("backoffice_sale/create".into(), 3),
                ("pos_order_sync/create_from_ui".into(), 3)
            ]
        );
        // Merging two intervals of one tag adds them.
        let mut buf2 = Vec::new();
        let mut w = HlogWriter::new(&mut buf2, SystemTime::UNIX_EPOCH);
        w.interval("a", &h, Duration::from_secs(0), Duration::from_secs(1))
            .unwrap();
        w.interval("a", &h, Duration::from_secs(1), Duration::from_secs(1))
            .unwrap();
        let merged = read_merged(&buf2).unwrap();
        assert_eq!(merged["a"].len(), 6);
        assert_eq!(merged["a"].max(), h.max());
    }

    #[test]
    fn a_window_keeps_only_the_seconds_wholly_inside_it() {
        let mut buf = Vec::new();
        let mut w = HlogWriter::new(
            &mut buf,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        for second in 0..10u64 {
            let mut h = Histogram::<u64>::new(3).unwrap();
            // Second n holds n + 1 requests of (n + 1) ms.
            for _ in 0..=second {
                h.record((second + 1) * 1000).unwrap();
            }
            w.interval(
                "s/x",
                &h,
                Duration::from_secs(second),
                Duration::from_secs(1),
            )
            .unwrap();
        }
        // [2, 4.5) keeps seconds 2 and 3 (4 straddles the edge); [8, 10) keeps 8 and 9.
        let kept = read_windows(&buf, &[(2.0, 4.5), (8.0, 10.0)]).unwrap();
        assert_eq!(kept["s/x"].len(), 3 + 4 + 9 + 10);
        assert_eq!(kept["s/x"].min(), 3000);
        assert!(read_windows(&buf, &[(20.0, 30.0)]).unwrap().is_empty());
    }
}
