//! Was the load generator able to keep its plan? If it was late to send, its recorder fell
//! behind, or its host starved it of CPU, the figures describe the generator's machine as much
//! as the release: the run is `inconclusive`, neither passed nor failed (DESIGN.md, exit 4).

use super::fmt_num;
use crate::plan::Gate;
use crate::result::RunResult;
use crate::result::{Check, Status};

/// The check's name in verdict.json.
pub const NAME: &str = "load generator kept its plan";

/// The one generator check: pass, or inconclusive with every limit it broke.
pub fn evaluate(run: &RunResult, gate: &Gate) -> Check {
    let g = &run.generator;
    let limits = &gate.generator;
    let mut broken = Vec::new();
    let lateness = g.lateness_ms.p99;
    if lateness > limits.lateness_p99_ms() {
        broken.push(format!(
            "requests were sent late: p99 scheduling lateness {} ms > {} ms",
            fmt_num(lateness),
            fmt_num(limits.lateness_p99_ms())
        ));
    }
    if g.recorder_lag_max_ms > limits.recorder_lag_ms() {
        broken.push(format!(
            "the recorder fell behind by {} ms > {} ms",
            fmt_num(g.recorder_lag_max_ms),
            fmt_num(limits.recorder_lag_ms())
        ));
    }
    if let (Some(wait), Some(pressure), Some(max_wait)) = (
        g.runqueue_wait_mean,
        g.cpu_pressure_mean,
        limits.runqueue_wait(),
    ) && wait > max_wait
        && pressure > limits.cpu_pressure()
    {
        broken.push(format!(
            "the host starved it of CPU: its threads waited {} s per second for a CPU while some task on the host waited {:.0}% of the time (limits {} s/s and {:.0}%)",
            fmt_num(wait),
            pressure * 100.0,
            fmt_num(max_wait),
            limits.cpu_pressure() * 100.0
        ));
    }
    let host = match (g.cpu_pressure_mean, g.host_steal_mean, g.load1_max) {
        (Some(p), Some(st), Some(l)) => format!(
            "; host: CPU pressure {:.0}%, steal {:.1}%, load {} on {} cores",
            p * 100.0,
            st * 100.0,
            fmt_num(l),
            g.cores
        ),
        _ => String::new(),
    };
    let evidence = format!(
        "scheduling lateness p99 {} ms (max {} ms), recorder lag max {} ms{host}",
        fmt_num(lateness),
        fmt_num(g.lateness_ms.max),
        fmt_num(g.recorder_lag_max_ms)
    );
    let (status, message) = if broken.is_empty() {
        (Status::Pass, evidence)
    } else {
        (
            Status::Inconclusive,
            format!(
                "{}: the figures describe the load generator's machine as much as the release ({evidence})",
                broken.join("; ")
            ),
        )
    };
    Check {
        name: NAME.into(),
        status,
        observed: Some(super::round6(lateness)),
        warn: None,
        fail: Some(limits.lateness_p99_ms()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{GeneratorSummary, LatencySummary};

    fn run_with(g: GeneratorSummary) -> RunResult {
        let mut r = crate::verdict::fixture::run();
        r.generator = g;
        r
    }

    fn healthy() -> GeneratorSummary {
        GeneratorSummary {
            lateness_ms: LatencySummary {
                p99: 3.0,
                max: 6.0,
                ..LatencySummary::default()
            },
            recorder_lag_max_ms: 14.0,
            cores: 2,
            runqueue_wait_mean: Some(0.03),
            cpu_pressure_mean: Some(0.05),
            host_steal_mean: Some(0.0),
            load1_max: Some(1.2),
            ..GeneratorSummary::default()
        }
    }

    #[test]
    fn a_generator_that_kept_its_plan_passes_with_its_evidence() {
        let c = evaluate(&run_with(healthy()), &Gate::default());
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(
            c.message.contains("scheduling lateness p99 3 ms"),
            "{}",
            c.message
        );
        assert!(c.message.contains("CPU pressure 5%"), "{}", c.message);
    }

    #[test]
    fn each_broken_limit_makes_the_run_inconclusive_and_says_why() {
        let mut late = healthy();
        late.lateness_ms.p99 = 80.0;
        let mut lagging = healthy();
        lagging.recorder_lag_max_ms = 1500.0;
        for (g, why) in [(late, "sent late"), (lagging, "recorder fell behind")] {
            let c = evaluate(&run_with(g), &Gate::default());
            assert_eq!(c.status, Status::Inconclusive, "{c:?}");
            assert!(c.message.contains(why), "{}", c.message);
        }
        // Starvation is judged when the profile asks for it, and needs both halves.
        let mut starved = healthy();
        starved.runqueue_wait_mean = Some(0.28);
        starved.cpu_pressure_mean = Some(0.95);
        assert_eq!(
            evaluate(&run_with(starved.clone()), &Gate::default()).status,
            Status::Pass
        );
        let mut strict = Gate::default();
        strict.generator.runqueue_wait = Some(0.15);
        let c = evaluate(&run_with(starved), &strict);
        assert_eq!(c.status, Status::Inconclusive, "{c:?}");
        assert!(c.message.contains("starved it of CPU"), "{}", c.message);
        let mut busy_target = healthy();
        busy_target.cpu_pressure_mean = Some(0.9);
        assert_eq!(
            evaluate(&run_with(busy_target), &strict).status,
            Status::Pass
        );
    }

    #[test]
    fn the_limits_come_from_the_gate() {
        let mut late = healthy();
        late.lateness_ms.p99 = 80.0;
        let mut gate = Gate::default();
        gate.generator.lateness_p99_ms = Some(100.0);
        assert_eq!(evaluate(&run_with(late), &gate).status, Status::Pass);
    }
}
