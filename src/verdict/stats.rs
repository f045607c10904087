//! The statistics the verdict rests on: the Mann-Whitney U rank test (from samples, or
//! exactly from two HDR histograms), the Hodges-Lehmann shift estimate with its confidence
//! interval, a two-proportion test for error rates, and the distribution-free confidence
//! interval of a percentile from order statistics. Pure functions.

use crate::result::{Method, QuantileInterval};
use hdrhistogram::Histogram;
use serde::Serialize;
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal};

/// Samples at or under this size (each side, no ties) get the exact U distribution.
pub const EXACT_MAX_N: u64 = 20;

/// A Mann-Whitney U test of `b` against `a`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MannWhitney {
    pub n_a: u64,
    pub n_b: u64,
    /// U of sample `a`: pairs (x from a, y from b) with x > y, ties counting one half.
    pub u_a: f64,
    /// z of `u_a` under the normal approximation (continuity-corrected, tie-corrected).
    pub z: f64,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// One-sided p-value for "b is stochastically larger than a".
    pub p_greater: f64,
    pub method: Method,
}

/// How many times each sample holds one distinct value.
#[derive(Debug, Clone, Copy)]
struct Group {
    a: u64,
    b: u64,
}

/// Mann-Whitney U from two plain samples, through explicit mid-ranks: the textbook route,
/// kept as the reference the histogram route is checked against.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> MannWhitney {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&y| (y, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut rank_sum_a, mut tie_term, mut i) = (0.0, 0.0, 0);
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        // Ranks are 1-based; a tied group shares the mean of its ranks.
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_a += mid_rank * all[i..=j].iter().filter(|v| v.1).count() as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let (n_a, n_b) = (a.len() as u64, b.len() as u64);
    let u_a = rank_sum_a - (n_a * (n_a + 1)) as f64 / 2.0;
    finish(u_a, n_a, n_b, tie_term)
}

/// Mann-Whitney U from two histograms of the same precision: values that share a bucket
/// are ties. Exact for the histograms; memory and time follow the buckets, not the samples.
pub fn mann_whitney_hist(a: &Histogram<u64>, b: &Histogram<u64>) -> MannWhitney {
    let groups = groups(a, b);
    let (mut u_a, mut b_below, mut tie_term) = (0.0, 0u64, 0.0);
    for g in &groups {
        u_a += g.a as f64 * (b_below as f64 + g.b as f64 / 2.0);
        b_below += g.b;
        let t = (g.a + g.b) as f64;
        tie_term += t * t * t - t;
    }
    finish(u_a, a.len(), b.len(), tie_term)
}

fn finish(u_a: f64, n_a: u64, n_b: u64, tie_term: f64) -> MannWhitney {
    let (n1, n2) = (n_a as f64, n_b as f64);
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = if n > 1.0 {
        n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))
    } else {
        0.0
    };
    let (z, p_normal_two, p_normal_greater) = if var > 0.0 {
        let sd = var.sqrt();
        let d = u_a - mean;
        let z_two = ((d.abs() - 0.5).max(0.0)) / sd;
        // b larger means u_a small: the lower tail of u_a.
        let z_greater = (d + 0.5) / sd;
        let z = if d >= 0.0 { z_two } else { -z_two };
        (
            z,
            (2.0 * upper_tail(z_two)).min(1.0),
            1.0 - upper_tail(z_greater),
        )
    } else {
        (0.0, 1.0, 1.0)
    };
    let ties = tie_term > 0.0;
    if !ties && n_a > 0 && n_b > 0 && n_a <= EXACT_MAX_N && n_b <= EXACT_MAX_N {
        let dist = exact_distribution(n_a as usize, n_b as usize);
        let total: f64 = dist.iter().sum();
        let u = u_a.round() as usize;
        let le: f64 = dist[..=u].iter().sum::<f64>() / total;
        let ge: f64 = dist[u..].iter().sum::<f64>() / total;
        return MannWhitney {
            n_a,
            n_b,
            u_a,
            z,
            p_two_sided: (2.0 * le.min(ge)).min(1.0),
            p_greater: le,
            method: Method::Exact,
        };
    }
    MannWhitney {
        n_a,
        n_b,
        u_a,
        z,
        p_two_sided: p_normal_two,
        p_greater: p_normal_greater,
        method: Method::Normal,
    }
}

/// P(Z > z) for a standard normal Z.
pub fn upper_tail(z: f64) -> f64 {
    standard_normal().sf(z)
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal is valid")
}

/// z such that a two-sided normal interval of ±z·se has the given confidence (1.96 at 95%).
pub fn two_sided_z(confidence: f64) -> f64 {
    standard_normal().inverse_cdf(0.5 + confidence / 2.0)
}

/// Counts of each U value (0..=m·n) over all arrangements of `m` and `n` distinct values:
/// c(m, n, u) = c(m−1, n, u−n) + c(m, n−1, u).
fn exact_distribution(m: usize, n: usize) -> Vec<f64> {
    // table[i][j] = distribution for sizes (i, j).
    let mut table: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n + 1]; m + 1];
    for i in 0..=m {
        for j in 0..=n {
            let mut d = vec![0.0; i * j + 1];
            if i == 0 || j == 0 {
                d[0] = 1.0;
            } else {
                for (u, slot) in d.iter_mut().enumerate() {
                    // The largest value is from `a` (it beats all j of b) or from b.
                    let from_a = if u >= j {
                        table[i - 1][j].get(u - j).copied().unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    let from_b = table[i][j - 1].get(u).copied().unwrap_or(0.0);
                    *slot = from_a + from_b;
                }
            }
            table[i][j] = d;
        }
    }
    std::mem::take(&mut table[m][n])
}

/// The distinct (bucket) values of two histograms in ascending order, with each side's
/// count. Values are each bucket's median equivalent, so both sides agree on a tie.
fn groups(a: &Histogram<u64>, b: &Histogram<u64>) -> Vec<Group> {
    let side = |h: &Histogram<u64>| -> Vec<(i64, u64)> {
        h.iter_recorded()
            .map(|v| {
                (
                    h.median_equivalent(v.value_iterated_to()) as i64,
                    v.count_at_value(),
                )
            })
            .collect()
    };
    let (xa, xb) = (side(a), side(b));
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(xa.len() + xb.len()));
    while i < xa.len() || j < xb.len() {
        let va = xa.get(i).map_or(i64::MAX, |v| v.0);
        let vb = xb.get(j).map_or(i64::MAX, |v| v.0);
        let value = va.min(vb);
        let mut g = Group { a: 0, b: 0 };
        if va == value {
            g.a = xa[i].1;
            i += 1;
        }
        if vb == value {
            g.b = xb[j].1;
            j += 1;
        }
        out.push(g);
    }
    out
}

/// The Hodges-Lehmann estimate of the shift of `b` over `a` (median of all pairwise
/// differences y − x) with a distribution-free confidence interval, in histogram units.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Shift {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// Confidence level of [low, high], e.g. 0.95.
    pub confidence: f64,
}

/// Hodges-Lehmann shift of `b` over `a` from two histograms. The k-th smallest pairwise
/// difference is found by bisection on the integer difference, counting pairs in one
/// merge-like pass per probe: O(buckets × log range), never O(n_a × n_b).
pub fn hodges_lehmann(a: &Histogram<u64>, b: &Histogram<u64>, confidence: f64) -> Option<Shift> {
    let xs = side_groups(a);
    let ys = side_groups(b);
    let (n_a, n_b) = (a.len(), b.len());
    if n_a == 0 || n_b == 0 {
        return None;
    }
    let pairs = n_a as u128 * n_b as u128;
    let kth = |k: u128| kth_difference(&xs, &ys, k);
    // The median of the pairwise differences (mean of the two middle ones when even).
    let estimate = if pairs % 2 == 1 {
        kth(pairs / 2 + 1) as f64
    } else {
        (kth(pairs / 2) as f64 + kth(pairs / 2 + 1) as f64) / 2.0
    };
    // Order statistics C and n_a·n_b − C + 1 bound the interval (Lehmann 1975), C from the
    // normal approximation of U's distribution.
    let z = standard_normal().inverse_cdf(0.5 + confidence / 2.0);
    let (n1, n2) = (n_a as f64, n_b as f64);
    let c = (n1 * n2 / 2.0 - z * (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt()).floor();
    let c = (c.max(1.0) as u128).min(pairs);
    Some(Shift {
        estimate,
        low: kth(c) as f64,
        high: kth(pairs - c + 1) as f64,
        confidence,
    })
}

fn side_groups(h: &Histogram<u64>) -> Vec<(i64, u64)> {
    h.iter_recorded()
        .map(|v| {
            (
                h.median_equivalent(v.value_iterated_to()) as i64,
                v.count_at_value(),
            )
        })
        .collect()
}

/// The k-th smallest (1-based) of all differences y − x.
fn kth_difference(xs: &[(i64, u64)], ys: &[(i64, u64)], k: u128) -> i64 {
    let lo_bound = ys[0].0 - xs[xs.len() - 1].0;
    let hi_bound = ys[ys.len() - 1].0 - xs[0].0;
    let (mut lo, mut hi) = (lo_bound, hi_bound);
    // Smallest d with count(y − x ≤ d) ≥ k.
    while lo < hi {
        let mid = lo + (hi - lo).div_euclid(2);
        if pairs_at_most(xs, ys, mid) >= k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Pairs with y − x ≤ d, i.e. x ≥ y − d; as y grows so does y − d, so one pointer suffices.
fn pairs_at_most(xs: &[(i64, u64)], ys: &[(i64, u64)], d: i64) -> u128 {
    let total_x: u128 = xs.iter().map(|x| x.1 as u128).sum();
    let (mut i, mut x_below, mut count) = (0, 0u128, 0u128);
    for &(y, cy) in ys {
        while i < xs.len() && xs[i].0 < y - d {
            x_below += xs[i].1 as u128;
            i += 1;
        }
        count += cy as u128 * (total_x - x_below);
    }
    count
}

/// A two-proportion z-test of "rate b is higher than rate a" (pooled variance), with the
/// difference b − a and its Wald confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Proportions {
    pub rate_a: f64,
    pub rate_b: f64,
    pub z: f64,
    /// One-sided p-value for rate b > rate a.
    pub p_greater: f64,
    pub difference: f64,
    pub low: f64,
    pub high: f64,
}

pub fn two_proportions(
    errors_a: u64,
    n_a: u64,
    errors_b: u64,
    n_b: u64,
    confidence: f64,
) -> Proportions {
    let rate = |e: u64, n: u64| if n == 0 { 0.0 } else { e as f64 / n as f64 };
    let (pa, pb) = (rate(errors_a, n_a), rate(errors_b, n_b));
    let (na, nb) = (n_a.max(1) as f64, n_b.max(1) as f64);
    let pooled = (errors_a + errors_b) as f64 / (na + nb);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    let z = if se0 > 0.0 { (pb - pa) / se0 } else { 0.0 };
    let p_greater = if se0 > 0.0 { upper_tail(z) } else { 1.0 };
    let se = (pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb).sqrt();
    let q = standard_normal().inverse_cdf(0.5 + confidence / 2.0);
    Proportions {
        rate_a: pa,
        rate_b: pb,
        z,
        p_greater,
        difference: pb - pa,
        low: pb - pa - q * se,
        high: pb - pa + q * se,
    }
}

/// Which order statistics bound a quantile: the ranks (1-based) of the smallest and largest
/// sample of a distribution-free confidence interval for the `q`-quantile of `n` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantileRanks {
    /// The lower bound is the `low`-th smallest sample; `None`: no sample is low enough
    /// (the interval is open below).
    pub low: Option<u64>,
    /// The upper bound is the `high`-th smallest sample; `None`: even the largest sample is
    /// not high enough (the interval is open above; more samples are needed to close it).
    pub high: Option<u64>,
}

/// Order-statistic ranks of a two-sided `confidence` interval for the `q`-quantile of `n`
/// samples (Conover, *Practical Nonparametric Statistics*, 3rd ed., §3.2; Hahn & Meeker,
/// *Statistical Intervals*, §5.2). The number of samples below the true quantile is
/// Binomial(n, q), so [X(l), X(u)] holds it with probability P(l ≤ B ≤ u − 1); `l` is the
/// largest rank with P(B ≤ l − 1) ≤ α/2 and `u` the smallest with P(B ≥ u) ≤ α/2, so each
/// side errs with probability at most α/2 whatever the distribution of the samples.
pub fn quantile_ranks(n: u64, q: f64, confidence: f64) -> QuantileRanks {
    let tail = (1.0 - confidence) / 2.0;
    if n == 0 || !(q > 0.0 && q < 1.0) {
        return QuantileRanks {
            low: None,
            high: None,
        };
    }
    let b = Binomial::new(q, n).expect("0 < q < 1 is a valid binomial probability");
    // Smallest x in 0..=n with cdf(x) > tail (cdf(n) = 1 > tail): the cdf is monotone.
    let first_above = |level: f64| -> u64 {
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if b.cdf(mid) > level {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    };
    // P(B ≤ l − 1) ≤ tail for every l ≤ x where x is the first with cdf(x) > tail.
    let l = first_above(tail);
    // P(B ≥ u) = 1 − cdf(u − 1) ≤ tail ⇔ cdf(u − 1) ≥ 1 − tail: u − 1 is the first x with
    // cdf(x) ≥ 1 − tail, i.e. the first above the level just under it.
    let u_minus_1 = first_at_least(&b, n, 1.0 - tail);
    QuantileRanks {
        low: (l >= 1).then_some(l),
        high: (u_minus_1 < n).then_some(u_minus_1 + 1),
    }
}

/// Smallest x in 0..=n with cdf(x) ≥ level.
fn first_at_least(b: &Binomial, n: u64, level: f64) -> u64 {
    let (mut lo, mut hi) = (0u64, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if b.cdf(mid) >= level {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The confidence interval of the `q`-quantile of the samples in `h` (see [`quantile_ranks`]).
pub fn quantile_interval(h: &Histogram<u64>, q: f64, confidence: f64) -> QuantileInterval {
    let n = h.len();
    let ranks = quantile_ranks(n, q, confidence);
    let at_rank = |rank: u64, low_side: bool| -> Option<f64> {
        let mut seen = 0u64;
        h.iter_recorded().find_map(|v| {
            seen += v.count_at_value();
            (seen >= rank).then(|| {
                let x = v.value_iterated_to();
                if low_side {
                    h.lowest_equivalent(x) as f64
                } else {
                    h.highest_equivalent(x) as f64
                }
            })
        })
    };
    QuantileInterval {
        n,
        low: ranks.low.and_then(|r| at_rank(r, true)),
        high: ranks.high.and_then(|r| at_rank(r, false)),
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [f64; 5] = [19.0, 22.0, 16.0, 29.0, 24.0];
    const B: [f64; 4] = [20.0, 11.0, 17.0, 12.0];

    fn hist(values: &[f64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        h.auto(true);
        for v in values {
            h.record(*v as u64).unwrap();
        }
        h
    }

    #[test]
    fn textbook_example_gives_u_17_and_exact_p_0_1111() {
        let t = mann_whitney(&A, &B);
        assert_eq!(t.u_a, 17.0);
        assert_eq!(t.method, Method::Exact);
        // 2 × 7/126: seven of the 126 arrangements have U ≤ 3.
        assert!((t.p_two_sided - 14.0 / 126.0).abs() < 1e-12, "{t:?}");
        assert!((t.p_two_sided - 0.1111).abs() < 5e-5);
    }

    #[test]
    fn textbook_example_normal_approximation_with_continuity_correction_is_0_1113() {
        // (17 − 10 − 0.5) / sqrt(5·4·10/12) = 1.5922 → 2·(1 − Φ) = 0.11134
        let mean = 10.0;
        let sd = (5.0f64 * 4.0 * 10.0 / 12.0).sqrt();
        let p = 2.0 * upper_tail((17.0 - mean - 0.5) / sd);
        assert!((p - 0.1113).abs() < 5e-5, "{p}");
        // The same through the test itself once a tie forces the normal route: a tie between
        // the samples changes U by one half and the variance slightly.
        let t = mann_whitney(&[19.0, 22.0, 16.0, 29.0, 24.0, 30.0], &B);
        assert_eq!(t.method, Method::Exact);
        let tied = mann_whitney(&[19.0, 22.0, 16.0, 29.0, 24.0], &[20.0, 11.0, 17.0, 16.0]);
        assert_eq!(tied.method, Method::Normal);
        assert_eq!(tied.u_a, 16.5);
        let tie_sd = (20.0 / 12.0 * (10.0 - 6.0 / 72.0f64)).sqrt();
        let expected = 2.0 * upper_tail((16.5 - 10.0 - 0.5) / tie_sd);
        assert!((tied.p_two_sided - expected).abs() < 1e-12);
    }

    #[test]
    fn large_samples_use_the_normal_route_and_its_p_matches_the_formula() {
        let a: Vec<f64> = (0..30).map(|i| i as f64 * 2.0).collect();
        let b: Vec<f64> = (0..30).map(|i| i as f64 * 2.0 + 7.0).collect();
        let t = mann_whitney(&a, &b);
        assert_eq!(t.method, Method::Normal);
        let sd = (30.0f64 * 30.0 * 61.0 / 12.0).sqrt();
        let expected = 2.0 * upper_tail(((t.u_a - 450.0).abs() - 0.5) / sd);
        assert!((t.p_two_sided - expected).abs() < 1e-12);
        assert!(t.p_greater < 0.5 && t.u_a < 450.0);
    }

    #[test]
    fn histogram_route_agrees_with_the_sample_route() {
        let h = mann_whitney_hist(&hist(&A), &hist(&B));
        let s = mann_whitney(&A, &B);
        assert_eq!(h, s);
        // With ties and large samples too (values under 2048 are exact in a 3-digit histogram).
        let a: Vec<f64> = (0..400).map(|i| ((i * 37) % 150) as f64 + 1.0).collect();
        let b: Vec<f64> = (0..300).map(|i| ((i * 53) % 170) as f64 + 5.0).collect();
        let (h, s) = (
            mann_whitney_hist(&hist(&a), &hist(&b)),
            mann_whitney(&a, &b),
        );
        assert_eq!(h.u_a, s.u_a);
        assert!((h.p_two_sided - s.p_two_sided).abs() < 1e-12);
        assert!((h.p_greater - s.p_greater).abs() < 1e-12);
        assert_eq!(h.method, Method::Normal);
    }

    #[test]
    fn exact_distribution_sums_to_the_binomial_and_is_symmetric() {
        let d = exact_distribution(5, 4);
        assert_eq!(d.iter().sum::<f64>(), 126.0);
        assert_eq!(&d[..4], &[1.0, 1.0, 2.0, 3.0]);
        for u in 0..=20 {
            assert_eq!(d[u], d[20 - u]);
        }
    }

    #[test]
    fn hodges_lehmann_is_the_median_pairwise_difference() {
        // Differences b − a over all 20 pairs; their median by brute force.
        let mut diffs: Vec<f64> = B
            .iter()
            .flat_map(|y| A.iter().map(move |x| y - x))
            .collect();
        diffs.sort_by(f64::total_cmp);
        let brute = (diffs[9] + diffs[10]) / 2.0;
        let s = hodges_lehmann(&hist(&A), &hist(&B), 0.95).unwrap();
        assert_eq!(s.estimate, brute);
        assert_eq!(brute, -7.0);
        assert!(s.low <= s.estimate && s.estimate <= s.high);
    }

    #[test]
    fn hodges_lehmann_finds_a_known_shift_with_an_interval_around_it() {
        let a: Vec<f64> = (0..500).map(|i| 100.0 + (i % 100) as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 30.0).collect();
        let s = hodges_lehmann(&hist(&a), &hist(&b), 0.95).unwrap();
        assert_eq!(s.estimate, 30.0);
        assert!(
            s.low <= 30.0 && s.high >= 30.0 && s.high - s.low < 10.0,
            "{s:?}"
        );
        let same = hodges_lehmann(&hist(&a), &hist(&a), 0.95).unwrap();
        assert_eq!(same.estimate, 0.0);
        assert!(same.low < 0.0 && same.high > 0.0);
    }

    #[test]
    fn two_proportions_flags_a_clear_increase_and_not_equal_rates() {
        // 10/1000 vs 40/1000: z = 0.03 / sqrt(0.025·0.975·0.002) = 4.296
        let t = two_proportions(10, 1000, 40, 1000, 0.95);
        assert!((t.z - 4.2967).abs() < 1e-3, "{t:?}");
        assert!(t.p_greater < 1e-4);
        assert!((t.difference - 0.03).abs() < 1e-12);
        assert!(t.low > 0.0 && t.high < 0.06);
        let same = two_proportions(10, 1000, 10, 1000, 0.95);
        assert_eq!(same.z, 0.0);
        assert_eq!(same.p_greater, 0.5);
        let none = two_proportions(0, 1000, 0, 900, 0.95);
        assert_eq!(none.p_greater, 1.0);
    }

    #[test]
    fn quantile_ranks_match_the_binomial_table() {
        // Median of 20 at 95%: Conover's table gives X(6) ≤ median ≤ X(15) (coverage 0.9586).
        let r = quantile_ranks(20, 0.5, 0.95);
        assert_eq!((r.low, r.high), (Some(6), Some(15)));
        // p99 of 150: B = samples below the p99 ~ Bin(150, 0.99); P(B ≤ 145) = 0.0180 and
        // P(B ≤ 146) = 0.0647, so the lower bound is the 146th smallest, the 5th largest;
        // P(B = 150) = 0.99^150 = 0.221 > 0.025: no upper bound.
        let r = quantile_ranks(150, 0.99, 0.95);
        assert_eq!((r.low, r.high), (Some(146), None));
        // Enough samples close the interval on both sides around rank 0.99·n.
        let r = quantile_ranks(10_000, 0.99, 0.95);
        let (l, h) = (r.low.unwrap(), r.high.unwrap());
        assert!(l < 9900 && h > 9900 && h - l < 60, "{r:?}");
        // Too few to bound anything below: p99 of 3 samples.
        assert_eq!(quantile_ranks(3, 0.99, 0.95).high, None);
    }

    #[test]
    fn quantile_interval_covers_the_true_quantile_about_95_percent_of_the_time() {
        // 400 draws of 150 samples from a uniform 1..=10_000 (p99 = 9_900): the interval misses
        // the true quantile in at most about 5% of draws, whatever the distribution.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut misses = 0;
        for _ in 0..400 {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for _ in 0..150 {
                h.record(rng.random_range(1..=10_000u64)).unwrap();
            }
            let i = quantile_interval(&h, 0.99, 0.95);
            assert_eq!(i.n, 150);
            assert!(i.high.is_none());
            if i.low.unwrap() > 9_900.0 {
                misses += 1;
            }
        }
        // One-sided miss probability ≤ 2.5%: 400 draws give about 5 ± 4.
        assert!(
            misses <= 16,
            "{misses} of 400 lower bounds above the true p99"
        );
        // The bound is the 5th largest sample (exact below 2048 in a 3-digit histogram).
        let h = hist(&(1..=150).map(f64::from).collect::<Vec<_>>());
        assert_eq!(quantile_interval(&h, 0.99, 0.95).low, Some(146.0));
    }
}
