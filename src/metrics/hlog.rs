//! The HdrHistogram interval log (`latency.hlog`): one tagged interval per step per second,
//! flushed as the run goes, so an interrupted run keeps what it measured.

use std::io::Write;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

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
        let mut builder = IntervalLogWriterBuilder::new();
        if !self.header_written {
            builder
                .add_comment("peakgate latency log: histogram values in microseconds from each request's intended start; interval max in milliseconds")
                .with_start_time(self.start)
                .with_base_time(self.start)
                .with_max_value_divisor(1000.0);
            self.header_written = true;
        }
        let mut writer = builder.begin_log_with(&mut self.out, &mut self.serializer)?;
        let tag = Tag::new(tag);
        writer
            .write_histogram(histogram, start_offset, length, tag)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

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
        let mut seen = Vec::new();
        for entry in IntervalLogIterator::new(&buf) {
            if let Ok(LogEntry::Interval(i)) = entry {
                let bytes = base64_decode(i.encoded_histogram());
                let back: Histogram<u64> =
                    Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
                seen.push((i.tag().unwrap().as_str().to_string(), back.len()));
            }
        }
        assert_eq!(
            seen,
            vec![
                ("pos_order_sync/create_from_ui".into(), 3),
                ("backoffice_sale/create".into(), 3)
            ]
        );
    }

    /// Minimal base64 decoding for the test (the log stores histograms base64-encoded).
    fn base64_decode(s: &str) -> Vec<u8> {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in s.bytes().filter(|c| *c != b'=') {
            acc = (acc << 6) | alphabet.iter().position(|a| *a == c).unwrap() as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
}
