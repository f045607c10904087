//! Erlang C: the M/M/c queue (Poisson arrivals, exponential service, c servers, FIFO), the
//! model of Odoo's worker pool where a request waits in the listen backlog until one of
//! `--workers` processes is free.
//!
//! Offered load `A = arrival rate × mean service time` (Erlangs). Computed through the Erlang B
//! recursion `B(k) = A·B(k−1) / (k + A·B(k−1))`, which never forms a factorial or a power, so it
//! stays exact at hundreds of servers; then `C = c·B / (c − A·(1 − B))`.

use serde::{Deserialize, Serialize};

/// The queue's figures at one server count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub servers: u32,
    /// Offered load in Erlangs.
    pub offered_erlangs: f64,
    /// Probability an arrival waits at all (Erlang C); 1 when the queue is unstable.
    pub p_wait: f64,
    /// Mean wait in the queue, seconds (infinite when unstable).
    pub mean_wait_s: f64,
    /// P(wait ≤ target wait): the service level (0 when unstable).
    pub service_level: f64,
    /// Busy share of the servers, A / c (above 1: unstable).
    pub occupancy: f64,
}

/// Erlang B blocking probability for `servers` at `offered` Erlangs.
pub fn erlang_b(servers: u32, offered: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=servers {
        b = offered * b / (k as f64 + offered * b);
    }
    b
}

/// Erlang C probability of waiting; 1 when `offered ≥ servers`.
pub fn erlang_c(servers: u32, offered: f64) -> f64 {
    let c = servers as f64;
    if offered >= c {
        return 1.0;
    }
    if offered <= 0.0 {
        return 0.0;
    }
    let b = erlang_b(servers, offered);
    c * b / (c - offered * (1.0 - b))
}

/// The M/M/c figures for `servers` at `arrival_per_s` with `service_s` mean service, judged
/// against `target_wait_s`.
pub fn queue(servers: u32, arrival_per_s: f64, service_s: f64, target_wait_s: f64) -> Queue {
    let a = arrival_per_s * service_s;
    let c = servers as f64;
    let p_wait = erlang_c(servers, a);
    let (mean_wait_s, service_level) = if a < c && service_s > 0.0 {
        (
            p_wait * service_s / (c - a),
            1.0 - p_wait * (-(c - a) * target_wait_s / service_s).exp(),
        )
    } else if a <= 0.0 {
        (0.0, 1.0)
    } else {
        (f64::INFINITY, 0.0)
    };
    Queue {
        servers,
        offered_erlangs: a,
        p_wait,
        mean_wait_s,
        service_level,
        occupancy: if c > 0.0 { a / c } else { f64::INFINITY },
    }
}

/// The fewest servers whose service level for `target_wait_s` reaches `service_level`.
pub fn servers_needed(
    arrival_per_s: f64,
    service_s: f64,
    target_wait_s: f64,
    service_level: f64,
) -> u32 {
    let a = arrival_per_s * service_s;
    let mut c = (a.floor() as u32 + 1).max(1);
    while queue(c, arrival_per_s, service_s, target_wait_s).service_level < service_level {
        c += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_erlangs_on_fourteen_servers_match_the_published_figures() {
        // A = 10 Erlangs, c = 14: P(wait) ≈ 0.174; target wait 1/9 of the mean service
        // time gives a service level ≈ 0.888.
        let service_s = 0.9;
        let q = queue(14, 10.0 / service_s, service_s, service_s / 9.0);
        assert!((q.offered_erlangs - 10.0).abs() < 1e-9);
        assert!((q.p_wait - 0.174).abs() < 0.0005, "P(wait) {}", q.p_wait);
        assert!(
            (q.service_level - 0.888).abs() < 0.0005,
            "SL {}",
            q.service_level
        );
        assert!((q.occupancy - 10.0 / 14.0).abs() < 1e-12);
        // Mean wait = C·S/(c−A).
        assert!((q.mean_wait_s - q.p_wait * 0.9 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn one_server_is_the_m_m_1_queue() {
        // M/M/1: P(wait) = ρ, mean wait = ρ/(μ−λ).
        let q = queue(1, 8.0, 0.1, 0.0);
        assert!((q.p_wait - 0.8).abs() < 1e-12);
        assert!((q.mean_wait_s - 0.8 / (10.0 - 8.0)).abs() < 1e-12);
    }

    #[test]
    fn five_hundred_servers_stay_finite_and_monotone() {
        let c450 = erlang_c(500, 450.0);
        let c480 = erlang_c(500, 480.0);
        assert!(c450.is_finite() && c450 > 0.0 && c450 < 1.0, "{c450}");
        assert!(c480 > c450 && c480 < 1.0, "{c480}");
        assert_eq!(erlang_c(500, 500.0), 1.0);
        let q = queue(500, 499.0, 1.0, 1.0);
        assert!(q.mean_wait_s.is_finite() && q.mean_wait_s > 0.0);
    }

    #[test]
    fn servers_needed_is_the_first_count_meeting_the_target() {
        // 12/s at 250 ms = 3 Erlangs; 90% must wait at most 1 s.
        let c = servers_needed(12.0, 0.25, 1.0, 0.9);
        assert!(queue(c, 12.0, 0.25, 1.0).service_level >= 0.9);
        assert!(queue(c - 1, 12.0, 0.25, 1.0).service_level < 0.9);
        assert!(c > 3);
        // An unstable count never meets a target.
        assert_eq!(queue(3, 12.0, 0.25, 1.0).service_level, 0.0);
    }
}
