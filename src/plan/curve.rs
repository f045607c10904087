//! The load curve: stages of a level (journeys/s or terminals) that is constant or ramps
//! linearly, and its integral, so arrival times can be computed exactly.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One stage of the curve, placed on the run's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Label shown in plans and reports.
    pub name: String,
    /// Seconds from the run's start when the stage begins.
    pub start_s: f64,
    /// Length of the stage in seconds.
    pub duration_s: f64,
    /// Level at the stage's start (journeys/s, or terminals in the closed model).
    pub from: f64,
    /// Level at the stage's end.
    pub to: f64,
    /// Scenario weights during this stage (in the plan's scenario order), when the stage
    /// has its own mix; otherwise the profile's `[mix]` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<Vec<f64>>,
}

impl Stage {
    /// Seconds from the run's start when the stage ends.
    pub fn end_s(&self) -> f64 {
        self.start_s + self.duration_s
    }

    /// Level at `t` seconds into the stage.
    fn level_at(&self, t: f64) -> f64 {
        self.from + (self.to - self.from) * (t / self.duration_s)
    }

    /// Area under the level from the stage's start to `t` seconds into it.
    fn area_to(&self, t: f64) -> f64 {
        let slope = (self.to - self.from) / self.duration_s;
        self.from * t + 0.5 * slope * t * t
    }

    /// Time into the stage at which the area reaches `a` (0 ≤ a ≤ stage area).
    fn time_for_area(&self, a: f64) -> f64 {
        let slope = (self.to - self.from) / self.duration_s;
        if slope.abs() < 1e-12 {
            return if self.from > 0.0 { a / self.from } else { 0.0 };
        }
        // Solve from*t + slope/2 * t^2 = a for the root inside the stage.
        let disc = (self.from * self.from + 2.0 * slope * a).max(0.0);
        let t = (disc.sqrt() - self.from) / slope;
        t.clamp(0.0, self.duration_s)
    }
}

/// The whole curve: consecutive stages from t = 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub stages: Vec<Stage>,
}

impl Curve {
    /// Builds a curve from `(name, duration, from, to)` in order.
    pub fn new(parts: impl IntoIterator<Item = (String, Duration, f64, f64)>) -> Self {
        let mut start = 0.0;
        let stages = parts
            .into_iter()
            .map(|(name, d, from, to)| {
                let s = Stage {
                    name,
                    start_s: start,
                    duration_s: d.as_secs_f64(),
                    from,
                    to,
                    mix: None,
                };
                start += s.duration_s;
                s
            })
            .collect();
        Curve { stages }
    }

    /// Total length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.stages.last().map_or(0.0, Stage::end_s)
    }

    /// Index of the stage holding `t` (the last one past the end).
    pub fn stage_index(&self, t: f64) -> usize {
        self.stages
            .iter()
            .position(|s| t < s.end_s())
            .unwrap_or(self.stages.len().saturating_sub(1))
    }

    /// Level at `t` seconds from the start (0 outside the curve).
    pub fn level_at(&self, t: f64) -> f64 {
        self.stages
            .iter()
            .find(|s| t >= s.start_s && t < s.end_s())
            .map_or(0.0, |s| s.level_at(t - s.start_s))
    }

    /// Cumulative level from 0 to `t`: expected journeys started by `t` (open model).
    pub fn cumulative(&self, t: f64) -> f64 {
        let mut total = 0.0;
        for s in &self.stages {
            if t >= s.end_s() {
                total += s.area_to(s.duration_s);
            } else {
                if t > s.start_s {
                    total += s.area_to(t - s.start_s);
                }
                break;
            }
        }
        total
    }

    /// The time at which the cumulative level reaches `a`, or `None` past the curve's end.
    pub fn time_for_cumulative(&self, a: f64) -> Option<f64> {
        let mut before = 0.0;
        for s in &self.stages {
            let area = s.area_to(s.duration_s);
            if a <= before + area && area > 0.0 {
                return Some(s.start_s + s.time_for_area(a - before));
            }
            before += area;
        }
        None
    }

    /// Highest level anywhere on the curve.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(0.0, f64::max)
    }

    /// The same curve with every level multiplied by `factor`.
    pub fn scaled_levels(&self, factor: f64) -> Curve {
        let mut c = self.clone();
        for s in &mut c.stages {
            s.from *= factor;
            s.to *= factor;
        }
        c
    }

    /// The same curve with its stages stretched or cut in proportion to last `total_s`.
    pub fn stretched_to(&self, total_s: f64) -> Curve {
        let factor = total_s / self.duration_s();
        let mut c = self.clone();
        for s in &mut c.stages {
            s.start_s *= factor;
            s.duration_s *= factor;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Curve {
        Curve::new([
            ("ramp".into(), Duration::from_secs(10), 0.0, 10.0),
            ("hold".into(), Duration::from_secs(5), 10.0, 10.0),
        ])
    }

    #[test]
    fn cumulative_is_the_area_under_the_curve() {
        let c = ramp();
        assert!((c.cumulative(10.0) - 50.0).abs() < 1e-9);
        assert!((c.cumulative(15.0) - 100.0).abs() < 1e-9);
        assert!((c.cumulative(5.0) - 12.5).abs() < 1e-9);
    }

    #[test]
    fn time_for_cumulative_inverts_cumulative() {
        let c = ramp();
        for t in [0.5, 3.0, 7.5, 10.0, 12.25, 14.9] {
            let a = c.cumulative(t);
            let back = c.time_for_cumulative(a).unwrap();
            assert!((back - t).abs() < 1e-6, "t={t} back={back}");
        }
        assert_eq!(c.time_for_cumulative(100.5), None);
    }

    #[test]
    fn stretching_keeps_the_levels() {
        let c = ramp().stretched_to(30.0);
        assert!((c.duration_s() - 30.0).abs() < 1e-9);
        assert!((c.level_at(25.0) - 10.0).abs() < 1e-9);
        assert!((c.cumulative(30.0) - 200.0).abs() < 1e-9);
    }
}
