//! The Universal Scalability Law (Gunther): throughput against concurrency,
//! `X(N) = λN / (1 + σ(N−1) + κN(N−1))`, fitted by nonlinear least squares
//! (Levenberg–Marquardt), with standard errors from the Jacobian at the optimum.
//!
//! λ is the throughput of one unit of concurrency (per second), σ the contention (the serial
//! share, Amdahl's law), κ the coherency cost (crosstalk that makes throughput fall past a
//! peak). With κ > 0 the peak is at `N* = √((1−σ)/κ)`; when κ is not significantly above 0 the
//! law reduces to Amdahl's, whose throughput only levels off at `λ/σ`.

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::storage::Owned;
use nalgebra::{DMatrix, DVector, Dyn};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Below this many points the fit is reported with a warning.
pub const MIN_POINTS_ADVISED: usize = 6;

/// One measurement: concurrency and the throughput reached at it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Mean units of work in the system (requests in flight).
    pub concurrency: f64,
    /// Completed work per second.
    pub throughput_per_s: f64,
}

/// A parameter estimate with its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    /// Standard error (√ of the covariance diagonal, residual variance RSS/(n−p)).
    pub std_error: f64,
}

/// A USL fit and what follows from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UslFit {
    /// Throughput per unit of concurrency at N = 1, per second.
    pub lambda_per_s: Estimate,
    /// Contention (serial share).
    pub sigma: Estimate,
    /// Coherency (crosstalk); 0 in the Amdahl case.
    pub kappa: Estimate,
    /// Whether κ is significantly above 0 (one-sided t-test at 5%, n−3 degrees of freedom).
    pub kappa_significant: bool,
    /// Amdahl case: κ was not significant, so λ and σ come from the two-parameter fit.
    pub amdahl: bool,
    /// Concurrency of peak throughput `√((1−σ)/κ)`; `None` in the Amdahl case.
    pub peak_concurrency: Option<f64>,
    /// X(N*), or the Amdahl ceiling λ/σ, per second.
    pub max_throughput_per_s: f64,
    /// Coefficient of determination of the fit.
    pub r_squared: f64,
    pub points: usize,
    /// Human-readable cautions (too few points, a poor fit...).
    pub warnings: Vec<String>,
}

/// Why a fit could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UslError {
    #[error("a USL fit needs at least 3 points with concurrency > 0 and throughput > 0, got {0}")]
    TooFewPoints(usize),
    #[error("the least-squares fit did not converge ({0})")]
    NoConvergence(String),
}

/// X(N) for the given parameters.
pub fn throughput(lambda: f64, sigma: f64, kappa: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// The least-squares problem: residuals X(Nᵢ) − Xᵢ over (λ, σ[, κ]).
struct Problem<'a> {
    points: &'a [Point],
    /// (λ, σ) or (λ, σ, κ).
    p: DVector<f64>,
}

impl Problem<'_> {
    fn parts(&self) -> (f64, f64, f64) {
        let k = if self.p.len() == 3 { self.p[2] } else { 0.0 };
        (self.p[0], self.p[1], k)
    }
}

impl LeastSquaresProblem<f64, Dyn, Dyn> for Problem<'_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, x: &DVector<f64>) {
        self.p.copy_from(x);
    }

    fn params(&self) -> DVector<f64> {
        self.p.clone()
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        let (l, s, k) = self.parts();
        Some(DVector::from_iterator(
            self.points.len(),
            self.points
                .iter()
                .map(|pt| throughput(l, s, k, pt.concurrency) - pt.throughput_per_s),
        ))
    }

    fn jacobian(&self) -> Option<DMatrix<f64>> {
        let (l, s, k) = self.parts();
        let mut j = DMatrix::zeros(self.points.len(), self.p.len());
        for (i, pt) in self.points.iter().enumerate() {
            let n = pt.concurrency;
            let d = 1.0 + s * (n - 1.0) + k * n * (n - 1.0);
            j[(i, 0)] = n / d;
            j[(i, 1)] = -l * n * (n - 1.0) / (d * d);
            if self.p.len() == 3 {
                j[(i, 2)] = -l * n * n * (n - 1.0) / (d * d);
            }
        }
        Some(j)
    }
}

/// Starting values: λ from the best per-unit throughput, σ and κ from the linearised law
/// `λN/X − 1 = σ(N−1) + κN(N−1)` by ordinary least squares through the origin.
fn start(points: &[Point], with_kappa: bool) -> DVector<f64> {
    let lambda = points
        .iter()
        .map(|p| p.throughput_per_s / p.concurrency)
        .fold(0.0, f64::max);
    let rows: Vec<(f64, f64, f64)> = points
        .iter()
        .map(|p| {
            let n = p.concurrency;
            (
                n - 1.0,
                n * (n - 1.0),
                lambda * n / p.throughput_per_s - 1.0,
            )
        })
        .collect();
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x1, x2, y) in &rows {
        a11 += x1 * x1;
        a12 += x1 * x2;
        a22 += x2 * x2;
        b1 += x1 * y;
        b2 += x2 * y;
    }
    let det = a11 * a22 - a12 * a12;
    let (sigma, kappa) = if with_kappa && det.abs() > 1e-12 {
        ((a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det)
    } else if a11 > 0.0 {
        (b1 / a11, 0.0)
    } else {
        (0.0, 0.0)
    };
    let (sigma, kappa) = (sigma.clamp(0.0, 1.0), kappa.max(1e-7));
    if with_kappa {
        DVector::from_vec(vec![lambda, sigma, kappa])
    } else {
        DVector::from_vec(vec![lambda, sigma])
    }
}

/// Parameters, standard errors and residual sum of squares of one least-squares fit.
struct Solved {
    p: DVector<f64>,
    se: Vec<f64>,
    rss: f64,
}

fn solve(points: &[Point], with_kappa: bool) -> Result<Solved, UslError> {
    let problem = Problem {
        points,
        p: start(points, with_kappa),
    };
    let (problem, report) = LevenbergMarquardt::new()
        .with_tol(1e-12)
        .with_patience(400)
        .minimize(problem);
    if !report.termination.was_successful() {
        return Err(UslError::NoConvergence(format!("{:?}", report.termination)));
    }
    let r = problem.residuals().expect("residuals are always computed");
    let j = problem.jacobian().expect("the Jacobian is always computed");
    let rss = r.norm_squared();
    let dof = points.len().saturating_sub(problem.p.len()).max(1) as f64;
    let s2 = rss / dof;
    let se = (j.transpose() * &j)
        .try_inverse()
        .map(|cov| {
            (0..problem.p.len())
                .map(|i| (s2 * cov[(i, i)]).max(0.0).sqrt())
                .collect()
        })
        .unwrap_or_else(|| vec![f64::NAN; problem.p.len()]);
    Ok(Solved {
        p: problem.p,
        se,
        rss,
    })
}

/// Fits the USL to `points` (those with concurrency and throughput above 0).
pub fn fit(points: &[Point]) -> Result<UslFit, UslError> {
    let points: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.concurrency > 0.0 && p.throughput_per_s > 0.0)
        .collect();
    let n = points.len();
    if n < 3 {
        return Err(UslError::TooFewPoints(n));
    }
    let full = solve(&points, true)?;
    let (kappa, kappa_se) = (full.p[2], full.se[2]);
    // One-sided: is κ above 0? With n = 3 there are no degrees of freedom left to tell.
    let kappa_significant = if n > 3 && kappa_se.is_finite() && kappa_se > 0.0 {
        let t = kappa / kappa_se;
        let crit = StudentsT::new(0.0, 1.0, (n - 3) as f64)
            .map(|d| d.inverse_cdf(0.95))
            .unwrap_or(f64::INFINITY);
        t > crit
    } else {
        kappa > 0.0
    };
    let mean = points.iter().map(|p| p.throughput_per_s).sum::<f64>() / n as f64;
    let tss: f64 = points
        .iter()
        .map(|p| (p.throughput_per_s - mean).powi(2))
        .sum();
    let mut warnings = Vec::new();
    if n < MIN_POINTS_ADVISED {
        warnings.push(format!(
            "only {n} points: a USL fit wants at least {MIN_POINTS_ADVISED} (three parameters), treat it as a rough guide"
        ));
    }
    let fit = if kappa_significant {
        let (l, s) = (full.p[0], full.p[1]);
        let peak = ((1.0 - s) / kappa).sqrt();
        UslFit {
            lambda_per_s: Estimate {
                value: l,
                std_error: full.se[0],
            },
            sigma: Estimate {
                value: s,
                std_error: full.se[1],
            },
            kappa: Estimate {
                value: kappa,
                std_error: kappa_se,
            },
            kappa_significant,
            amdahl: false,
            peak_concurrency: Some(peak),
            max_throughput_per_s: throughput(l, s, kappa, peak),
            r_squared: 1.0 - full.rss / tss,
            points: n,
            warnings,
        }
    } else {
        let amdahl = solve(&points, false)?;
        let (l, s) = (amdahl.p[0], amdahl.p[1]);
        warnings.push(format!(
            "κ = {kappa:.3e} ± {kappa_se:.1e} is not significantly above 0: Amdahl's law (no retrograde peak) fits as well"
        ));
        UslFit {
            lambda_per_s: Estimate {
                value: l,
                std_error: amdahl.se[0],
            },
            sigma: Estimate {
                value: s,
                std_error: amdahl.se[1],
            },
            kappa: Estimate {
                value: 0.0,
                std_error: 0.0,
            },
            kappa_significant,
            amdahl: true,
            peak_concurrency: None,
            max_throughput_per_s: if s > 0.0 { l / s } else { f64::INFINITY },
            r_squared: 1.0 - amdahl.rss / tss,
            points: n,
            warnings,
        }
    };
    Ok(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// codahale/usl4j's test data: throughput at N = 1..32.
    const USL4J: [f64; 32] = [
        955.16, 1878.91, 2688.01, 3548.68, 4315.54, 5130.43, 5931.37, 6531.08, 7219.8, 7867.61,
        8278.71, 8646.7, 9047.84, 9426.55, 9645.37, 9897.24, 10097.6, 10240.5, 10532.39, 10798.52,
        11151.43, 11518.63, 11806.0, 12089.37, 12075.41, 12177.29, 12211.41, 12158.93, 12155.27,
        12118.04, 12140.4, 12074.39,
    ];

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn usl4j_published_fit_is_reproduced() {
        let points: Vec<Point> = USL4J
            .iter()
            .enumerate()
            .map(|(i, x)| Point {
                concurrency: (i + 1) as f64,
                throughput_per_s: *x,
            })
            .collect();
        let f = fit(&points).unwrap();
        assert!(!f.amdahl && f.kappa_significant);
        assert!(rel(f.sigma.value, 0.02671591) < 1e-3, "σ {}", f.sigma.value);
        assert!(
            rel(f.kappa.value, 7.690945e-4) < 1e-3,
            "κ {}",
            f.kappa.value
        );
        assert!(
            rel(f.lambda_per_s.value, 995.6486) < 1e-3,
            "λ {}",
            f.lambda_per_s.value
        );
        let peak = f.peak_concurrency.unwrap();
        assert!((peak - 35.0).abs() < 1.0, "N* {peak}");
        assert!(
            rel(f.max_throughput_per_s, 12341.0) < 1e-3,
            "X(N*) {}",
            f.max_throughput_per_s
        );
        // Standard errors are positive and small next to the values they qualify.
        for e in [f.lambda_per_s, f.sigma, f.kappa] {
            assert!(e.std_error > 0.0 && e.std_error < 0.2 * e.value, "{e:?}");
        }
        assert!(f.r_squared > 0.99);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    }

    #[test]
    fn a_synthetic_law_is_recovered() {
        let points: Vec<Point> = (1..=20)
            .map(|n| Point {
                concurrency: n as f64,
                throughput_per_s: throughput(1.0, 0.02, 0.02, n as f64),
            })
            .collect();
        let f = fit(&points).unwrap();
        assert!(rel(f.lambda_per_s.value, 1.0) < 1e-6, "{f:?}");
        assert!(rel(f.sigma.value, 0.02) < 1e-5, "{f:?}");
        assert!(rel(f.kappa.value, 0.02) < 1e-5, "{f:?}");
        // N* = √(0.98/0.02) = 7.
        assert!((f.peak_concurrency.unwrap() - 7.0).abs() < 1e-4);
    }

    #[test]
    fn no_coherency_cost_is_reported_as_amdahl_with_its_ceiling() {
        // Amdahl with σ = 0.1, plus ±0.5% alternating noise: κ cannot be told from 0.
        let points: Vec<Point> = (1..=10)
            .map(|n| Point {
                concurrency: n as f64,
                throughput_per_s: throughput(100.0, 0.1, 0.0, n as f64)
                    * if n % 2 == 0 { 1.005 } else { 0.995 },
            })
            .collect();
        let f = fit(&points).unwrap();
        assert!(f.amdahl && !f.kappa_significant, "{f:?}");
        assert_eq!(f.peak_concurrency, None);
        assert!(rel(f.sigma.value, 0.1) < 0.05, "{f:?}");
        assert!(rel(f.max_throughput_per_s, 1000.0) < 0.08, "{f:?}");
    }

    #[test]
    fn few_points_warn_and_two_are_refused() {
        let pts = |ns: &[f64]| -> Vec<Point> {
            ns.iter()
                .map(|n| Point {
                    concurrency: *n,
                    throughput_per_s: throughput(10.0, 0.05, 0.01, *n),
                })
                .collect()
        };
        let f = fit(&pts(&[1.0, 2.0, 4.0, 8.0])).unwrap();
        assert!(
            f.warnings.iter().any(|w| w.contains("only 4 points")),
            "{:?}",
            f.warnings
        );
        assert_eq!(fit(&pts(&[1.0, 2.0])), Err(UslError::TooFewPoints(2)));
    }
}
