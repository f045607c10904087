//! `[gate.abort]`: conditions over a sliding window of closed seconds. The same watch runs
//! live (fed each closed timeline entry while the load goes) and on a stored timeline, so a
//! recomputed verdict names the condition that stopped the run.

use std::collections::VecDeque;

use crate::plan::gate::Abort;
use crate::result::TimelineEntry;

use super::fmt_num;

/// Evaluates the abort conditions one closed second at a time.
pub struct AbortWatch {
    abort: Abort,
    /// The last `window_s` seconds: (requests, errors, p95 ms).
    window: VecDeque<(u64, u64, f64)>,
}

impl AbortWatch {
    pub fn new(abort: Abort) -> Self {
        AbortWatch {
            window: VecDeque::with_capacity(abort.window_s as usize + 1),
            abort,
        }
    }

    /// Takes in one closed second; returns why the load must stop, if it must.
    pub fn push(&mut self, e: &TimelineEntry) -> Option<String> {
        self.window
            .push_back((e.requests, e.errors, e.latency_ms.p95));
        if self.window.len() > self.abort.window_s as usize {
            self.window.pop_front();
        }
        if self.window.len() < self.abort.window_s as usize {
            return None;
        }
        let end = e.t + 1;
        let span = self.abort.window_s;
        if let Some(limit) = self.abort.error_rate {
            let requests: u64 = self.window.iter().map(|w| w.0).sum();
            let errors: u64 = self.window.iter().map(|w| w.1).sum();
            let rate = errors as f64 / requests.max(1) as f64;
            if requests >= self.abort.min_requests && rate > limit {
                return Some(format!(
                    "error rate {}% ({errors} of {requests} requests) over the {span} s to t = {end} s, above the abort limit {}%",
                    fmt_num(100.0 * rate),
                    fmt_num(100.0 * limit)
                ));
            }
        }
        if let Some(limit) = self.abort.p95_ms {
            // Every second of the window must be over the limit (and have had requests).
            if self.window.iter().all(|w| w.0 > 0 && w.2 > limit) {
                let lowest = self
                    .window
                    .iter()
                    .map(|w| w.2)
                    .fold(f64::INFINITY, f64::min);
                return Some(format!(
                    "request p95 above {} ms in every second of the {span} s to t = {end} s (lowest {} ms)",
                    fmt_num(limit),
                    fmt_num(lowest)
                ));
            }
        }
        None
    }
}

/// The first second at which the conditions held on a stored timeline, and why.
pub fn replay(abort: &Abort, timeline: &[TimelineEntry]) -> Option<(u64, String)> {
    let mut watch = AbortWatch::new(abort.clone());
    timeline
        .iter()
        .find_map(|e| watch.push(e).map(|why| (e.t, why)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Quantiles;

    fn second(t: u64, requests: u64, errors: u64, p95: f64) -> TimelineEntry {
        TimelineEntry {
            t,
            requests,
            errors,
            latency_ms: Quantiles {
                p50: p95 / 2.0,
                p95,
                p99: p95,
            },
            ..Default::default()
        }
    }

    fn abort(error_rate: Option<f64>, p95_ms: Option<f64>) -> Abort {
        Abort {
            window_s: 3,
            error_rate,
            p95_ms,
            min_requests: 20,
        }
    }

    #[test]
    fn error_rate_over_the_window_triggers_only_once_the_window_is_full() {
        let mut w = AbortWatch::new(abort(Some(0.3), None));
        assert_eq!(w.push(&second(0, 10, 9, 5.0)), None);
        assert_eq!(w.push(&second(1, 10, 9, 5.0)), None);
        let why = w.push(&second(2, 10, 9, 5.0)).unwrap();
        assert!(why.contains("error rate 90% (27 of 30 requests)"), "{why}");
        assert!(why.contains("t = 3 s"), "{why}");
    }

    #[test]
    fn a_short_burst_of_errors_is_diluted_by_the_window() {
        let tl = [
            second(0, 30, 0, 5.0),
            second(1, 30, 30, 5.0),
            second(2, 30, 0, 5.0),
            second(3, 30, 0, 5.0),
        ];
        // 30 of 90 = 33% > 30% at t = 3, then 30 of 90 again, then 0.
        assert_eq!(replay(&abort(Some(0.3), None), &tl).map(|x| x.0), Some(2));
        assert_eq!(replay(&abort(Some(0.34), None), &tl), None);
        // Too few requests: never.
        let quiet = [
            second(0, 2, 2, 1.0),
            second(1, 2, 2, 1.0),
            second(2, 2, 2, 1.0),
        ];
        assert_eq!(replay(&abort(Some(0.3), None), &quiet), None);
    }

    #[test]
    fn p95_must_hold_above_the_limit_for_the_whole_window() {
        let tl = [
            second(0, 5, 0, 12_000.0),
            second(1, 5, 0, 9_000.0),
            second(2, 5, 0, 12_000.0),
            second(3, 5, 0, 11_000.0),
            second(4, 5, 0, 15_000.0),
        ];
        let (t, why) = replay(&abort(None, Some(10_000.0)), &tl).unwrap();
        assert_eq!(t, 4);
        assert!(why.contains("lowest 11000 ms"), "{why}");
    }
}
