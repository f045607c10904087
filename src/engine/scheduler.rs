//! The scheduler: every journey's intended start, computed from the curve with a seeded RNG.
//!
//! Poisson arrivals are a non-homogeneous Poisson process made by time change: unit-rate
//! exponential gaps in "expected journeys" space, mapped back through the inverse of the
//! cumulative rate. Uniform arrivals sit at the half-integers of that space, so a stage whose
//! expected count is whole gets exactly that many.

use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_distr::Exp1;

use crate::config::profile::ArrivalKind;
use crate::plan::Curve;
use crate::plan::generator::JourneyRng;

/// One planned journey.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Journey number, from 0.
    pub seq: u64,
    /// Intended start, seconds from t0.
    pub at_s: f64,
    /// Index of the scenario it runs.
    pub scenario: usize,
}

/// The arrivals of a plan, in time order, computed lazily (memory does not grow with them).
pub struct Arrivals {
    curve: Curve,
    kind: ArrivalKind,
    /// The scenario mix of each stage.
    mixes: Vec<WeightedIndex<f64>>,
    stage: usize,
    gaps: JourneyRng,
    picks: JourneyRng,
    position: f64,
    seq: u64,
}

impl Arrivals {
    /// `mixes` holds one mix per stage of `curve`, or a single one for all stages.
    pub fn new(curve: Curve, kind: ArrivalKind, mixes: Vec<WeightedIndex<f64>>, seed: u64) -> Self {
        Arrivals {
            curve,
            kind,
            mixes,
            stage: 0,
            gaps: JourneyRng::seed_from_u64(seed),
            picks: JourneyRng::seed_from_u64(seed.rotate_left(17) ^ 0xA5A5_5A5A),
            position: 0.0,
            seq: 0,
        }
    }
}

impl Iterator for Arrivals {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        let target = match self.kind {
            ArrivalKind::Poisson => {
                let gap: f64 = Exp1.sample(&mut self.gaps);
                self.position += gap;
                self.position
            }
            ArrivalKind::Uniform => self.seq as f64 + 0.5,
        };
        let at_s = self.curve.time_for_cumulative(target)?;
        // Times only grow, so the stage index only moves forward.
        while self.stage + 1 < self.curve.stages.len()
            && at_s >= self.curve.stages[self.stage].end_s()
        {
            self.stage += 1;
        }
        let mix = &self.mixes[self.stage.min(self.mixes.len() - 1)];
        let arrival = Arrival {
            seq: self.seq,
            at_s,
            scenario: mix.sample(&mut self.picks),
        };
        self.seq += 1;
        Some(arrival)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn curve() -> Curve {
        Curve::new([
            ("ramp".into(), Duration::from_secs(10), 0.0, 20.0),
            ("hold".into(), Duration::from_secs(10), 20.0, 20.0),
            ("spike".into(), Duration::from_secs(5), 100.0, 100.0),
        ])
    }

    fn counts(arrivals: impl Iterator<Item = Arrival>, c: &Curve) -> Vec<usize> {
        let mut n = vec![0; c.stages.len()];
        for a in arrivals {
            let i = c
                .stages
                .iter()
                .position(|s| a.at_s >= s.start_s && a.at_s < s.end_s())
                .unwrap();
            n[i] += 1;
        }
        n
    }

    #[test]
    fn uniform_arrivals_match_the_plan_exactly() {
        let c = curve();
        let mix = WeightedIndex::new([1.0]).unwrap();
        let n = counts(
            Arrivals::new(c.clone(), ArrivalKind::Uniform, vec![mix], 1),
            &c,
        );
        assert_eq!(n, vec![100, 200, 500]);
    }

    #[test]
    fn arrival_times_are_ordered_and_inside_the_curve() {
        let c = curve();
        let mix = WeightedIndex::new([1.0]).unwrap();
        let times: Vec<f64> = Arrivals::new(c.clone(), ArrivalKind::Poisson, vec![mix], 9)
            .map(|a| a.at_s)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times.iter().all(|t| *t >= 0.0 && *t < 25.0));
    }

    #[test]
    fn a_stage_with_its_own_mix_uses_it() {
        let c = curve();
        let everywhere = WeightedIndex::new([1.0, 0.0]).unwrap();
        let spike_only_b = WeightedIndex::new([0.0, 1.0]).unwrap();
        let mixes = vec![everywhere.clone(), everywhere, spike_only_b];
        for a in Arrivals::new(c.clone(), ArrivalKind::Uniform, mixes, 5) {
            assert_eq!(a.scenario, usize::from(a.at_s >= 20.0), "at {}", a.at_s);
        }
    }

    #[test]
    fn the_mix_is_followed() {
        let c = curve();
        let mix = WeightedIndex::new([5.0, 3.0, 2.0]).unwrap();
        let mut per = [0usize; 3];
        let mut total = 0;
        for a in Arrivals::new(c, ArrivalKind::Uniform, vec![mix], 3) {
            per[a.scenario] += 1;
            total += 1;
        }
        for (i, w) in [0.5, 0.3, 0.2].iter().enumerate() {
            let share = per[i] as f64 / total as f64;
            assert!((share - w).abs() < 0.05, "scenario {i}: {share}");
        }
    }
}
