//! Sharding: which share of one seeded plan a process runs (`--shard I/N`), and the common
//! wall-clock start every shard waits for (`--start-at`).
//!
//! Shard `I` of `N` runs the single run's arrivals `I, I+N, I+2N, ...` (open model) and its
//! terminals `I, I+N, ...` (closed model). Every arrival keeps its journey number, so its
//! scenario, think times and data rows are drawn from the same seeds as in the single run:
//! that is what makes a merge of the shards the single run again.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// One share of a plan: index `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    /// The whole plan in one process.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Whether journey (or terminal) number `n` of the single run is this shard's.
    pub fn owns(&self, n: u64) -> bool {
        n % u64::from(self.count) == u64::from(self.index)
    }

    /// This shard's part of a whole-plan cap (`max_in_flight`): the caps of all shards add up
    /// to at least the plan's, and each is at least 1.
    pub fn share_of(&self, whole: usize) -> usize {
        whole.div_ceil(self.count as usize).max(1)
    }

    /// The `n`-th journey number a closed-model shard hands out: numbers of different shards
    /// never meet (`n·N + I`), and one shard of one is the single run's `n`.
    pub fn journey_number(&self, n: u64) -> u64 {
        n * u64::from(self.count) + u64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, `0 <= I < N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected I/N (e.g. 0/4: the first of four shards)"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: the shard index `{i}` is not a whole number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: the shard count `{n}` is not a whole number"))?;
        if count == 0 {
            return Err(format!("`{s}`: the shard count must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: shard indexes run from 0 to {} (0-based, like JOB_COMPLETION_INDEX)",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

/// When the load starts: a wall-clock instant every shard agrees on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// An RFC 3339 instant (`2026-12-01T17:00:00Z`, any UTC offset).
    At(SystemTime),
    /// `every:DURATION`: the next whole multiple of the period since the Unix epoch, at least
    /// [`StartAt::MIN_LEAD`] away: processes started within one period agree on it without
    /// being told a time (e.g. the pods of one Kubernetes Job).
    Every(Duration),
}

impl StartAt {
    /// The least time `every:` leaves for the shards' preflights.
    pub const MIN_LEAD: Duration = Duration::from_secs(15);

    /// The instant to start at, seen from `now`.
    pub fn resolve(&self, now: SystemTime) -> SystemTime {
        match self {
            StartAt::At(t) => *t,
            StartAt::Every(period) => {
                let since = now
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .saturating_add(Self::MIN_LEAD);
                let p = period.as_nanos().max(1);
                let next = since.as_nanos().div_ceil(p) * p;
                SystemTime::UNIX_EPOCH + Duration::from_nanos(next as u64)
            }
        }
    }
}

impl std::str::FromStr for StartAt {
    type Err = String;

    /// An RFC 3339 instant, or `every:DURATION` (humantime: `30s`, `1m`, `5m`).
    fn from_str(s: &str) -> Result<StartAt, String> {
        if let Some(period) = s.strip_prefix("every:") {
            let d = humantime::parse_duration(period.trim())
                .map_err(|e| format!("`{s}`: the period `{period}`: {e}"))?;
            if d < Duration::from_secs(1) {
                return Err(format!("`{s}`: the period must be at least 1s"));
            }
            return Ok(StartAt::Every(d));
        }
        let ts: jiff::Timestamp = s.trim().parse().map_err(|e| {
            format!(
                "`{s}`: not an RFC 3339 instant (e.g. 2026-12-01T17:00:00Z) nor every:DURATION: {e}"
            )
        })?;
        let ns = u64::try_from(ts.as_nanosecond())
            .map_err(|_| format!("`{s}`: before 1970 or too far ahead"))?;
        Ok(StartAt::At(
            SystemTime::UNIX_EPOCH + Duration::from_nanos(ns),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_journey_numbers_into_disjoint_covering_shares() {
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for n in 0..100u64 {
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.owns(n))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners, vec![(n % 3) as u32], "journey {n}");
        }
        assert!(Shard::default().owns(7));
    }

    #[test]
    fn closed_model_journey_numbers_never_meet_across_shards() {
        let a: Vec<u64> = (0..5)
            .map(|n| Shard { index: 0, count: 2 }.journey_number(n))
            .collect();
        let b: Vec<u64> = (0..5)
            .map(|n| Shard { index: 1, count: 2 }.journey_number(n))
            .collect();
        assert_eq!(a, [0, 2, 4, 6, 8]);
        assert_eq!(b, [1, 3, 5, 7, 9]);
        assert_eq!(Shard::default().journey_number(4), 4);
    }

    #[test]
    fn caps_are_shared_so_they_add_up_to_the_plan() {
        let s = Shard { index: 2, count: 4 };
        assert_eq!(s.share_of(10), 3);
        assert_eq!(s.share_of(1), 1);
        assert_eq!(Shard::default().share_of(10), 10);
    }

    #[test]
    fn bad_shards_are_refused_with_the_reason() {
        for (text, why) in [
            ("3", "expected I/N"),
            ("a/2", "index `a`"),
            ("0/0", "at least 1"),
            ("2/2", "from 0 to 1"),
        ] {
            let e = text.parse::<Shard>().unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
    }

    #[test]
    fn start_at_reads_rfc3339_and_periods() {
        let at: StartAt = "2026-12-01T17:00:00+01:00".parse().unwrap();
        let expected = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_140_800);
        assert_eq!(at, StartAt::At(expected));
        assert_eq!(at.resolve(SystemTime::now()), expected);
        let every: StartAt = "every:1m".parse().unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(600 + 57);
        // 657 s + 15 s lead → the next whole minute is 720 s.
        assert_eq!(
            every.resolve(now),
            SystemTime::UNIX_EPOCH + Duration::from_secs(720)
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(600 + 10);
        assert_eq!(
            every.resolve(now),
            SystemTime::UNIX_EPOCH + Duration::from_secs(660)
        );
        assert!(
            "tomorrow"
                .parse::<StartAt>()
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!(
            "every:0s"
                .parse::<StartAt>()
                .unwrap_err()
                .contains("at least 1s")
        );
    }
}
