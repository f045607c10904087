//! Latency objectives given on the command line (`--slo p95=800ms`,
//! `--slo pos_order_sync/create_from_ui:p99=2s`) and their check against a run's figures.
//! A stand-in for the release gate's latency checks until `[gate]` is read from the profile.

use serde::{Deserialize, Serialize};

use crate::result::RunResult;

/// One objective: a latency statistic of the selected transactions must stay at or under a
/// threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// A step (`scenario/step`), a scenario (its whole journeys) or `*` for every step.
    pub selector: String,
    /// `p50`, `p90`, `p95`, `p99`, `p999`, `max` or `mean`.
    pub stat: String,
    pub threshold_ms: f64,
}

/// The check of one objective on one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloCheck {
    pub transaction: String,
    pub stat: String,
    pub observed_ms: f64,
    pub threshold_ms: f64,
    pub pass: bool,
}

const STATS: [&str; 7] = ["p50", "p90", "p95", "p99", "p999", "max", "mean"];

impl std::str::FromStr for Slo {
    type Err = String;

    fn from_str(s: &str) -> Result<Slo, String> {
        let (lhs, value) = s.split_once('=').ok_or_else(|| {
            format!("`{s}`: an objective reads [SELECTOR:]STAT=DURATION, e.g. p95=800ms")
        })?;
        let (selector, stat) = match lhs.rsplit_once(':') {
            Some((sel, stat)) => (sel.trim().to_string(), stat.trim()),
            None => ("*".to_string(), lhs.trim()),
        };
        if !STATS.contains(&stat) {
            return Err(format!(
                "`{s}`: `{stat}` is not one of {}",
                STATS.join(", ")
            ));
        }
        let d = humantime::parse_duration(value.trim())
            .map_err(|e| format!("`{s}`: `{value}` is not a duration ({e})"))?;
        Ok(Slo {
            selector,
            stat: stat.to_string(),
            threshold_ms: d.as_secs_f64() * 1000.0,
        })
    }
}

impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} ≤ {} ms",
            self.selector, self.stat, self.threshold_ms
        )
    }
}

/// The first objective whose selector names none of `names` (the plan's steps and scenarios),
/// with the nearest names: known before anything is simulated, so a typo is an input error
/// rather than an objective that fails.
pub fn unmatched(slos: &[Slo], names: &[&str]) -> Option<String> {
    let slo = slos
        .iter()
        .find(|s| s.selector != "*" && !names.contains(&s.selector.as_str()))?;
    Some(format!(
        "--slo `{slo}`: `{}` is no step or scenario of the profile; the nearest are {}",
        slo.selector,
        crate::plan::nearest(&slo.selector, names)
    ))
}

/// Checks every objective on every transaction it selects; an objective that selects nothing
/// fails (a typo must not pass).
pub fn check(slos: &[Slo], run: &RunResult) -> Vec<SloCheck> {
    let mut out = Vec::new();
    for slo in slos {
        let before = out.len();
        for (name, tx) in &run.transactions {
            let selected = if slo.selector == "*" {
                name.contains('/')
            } else {
                *name == slo.selector
            };
            if !selected || tx.count == 0 {
                continue;
            }
            let l = &tx.latency_ms;
            let observed_ms = match slo.stat.as_str() {
                "p50" => l.p50,
                "p90" => l.p90,
                "p95" => l.p95,
                "p99" => l.p99,
                "p999" => l.p999,
                "max" => l.max,
                _ => l.mean,
            };
            out.push(SloCheck {
                transaction: name.clone(),
                stat: slo.stat.clone(),
                observed_ms,
                threshold_ms: slo.threshold_ms,
                pass: observed_ms <= slo.threshold_ms,
            });
        }
        if out.len() == before {
            out.push(SloCheck {
                transaction: slo.selector.clone(),
                stat: slo.stat.clone(),
                observed_ms: f64::NAN,
                threshold_ms: slo.threshold_ms,
                pass: false,
            });
        }
    }
    out
}

/// Whether every check passed.
pub fn passes(checks: &[SloCheck]) -> bool {
    checks.iter().all(|c| c.pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_objective_naming_no_step_or_scenario_is_refused_with_the_nearest_names() {
        let names = [
            "pos_order_sync/create_from_ui",
            "pos_order_sync",
            "ecommerce_cart/shop",
        ];
        let typo: Slo = "pos_ordre_sync:p95=500ms".parse().unwrap();
        let why = unmatched(&[typo], &names).unwrap();
        assert!(
            why.contains("`pos_ordre_sync` is no step or scenario")
                && why.contains("the nearest are `pos_order_sync`,"),
            "{why}"
        );
        let fine: Vec<Slo> = [
            "p95=800ms",
            "pos_order_sync:p99=2s",
            "ecommerce_cart/shop:p95=1s",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(unmatched(&fine, &names), None);
    }

    #[test]
    fn objectives_parse_with_and_without_a_selector() {
        let s: Slo = "p95=800ms".parse().unwrap();
        assert_eq!(
            (s.selector.as_str(), s.stat.as_str(), s.threshold_ms),
            ("*", "p95", 800.0)
        );
        let s: Slo = "pos_order_sync/create_from_ui:p99=2s".parse().unwrap();
        assert_eq!(s.selector, "pos_order_sync/create_from_ui");
        assert_eq!(s.threshold_ms, 2000.0);
        assert!("p96=1s".parse::<Slo>().unwrap_err().contains("p96"));
        assert!("p95".parse::<Slo>().is_err());
        assert!("p95=fast".parse::<Slo>().unwrap_err().contains("fast"));
    }
}
