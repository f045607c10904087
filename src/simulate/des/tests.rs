//! The simulator against queueing theory: Erlang C, M/M/1, the machine-repairman model.

use super::*;
use crate::capacity::erlang;
use crate::plan::Overrides;

/// A plan of one single-request scenario at `rate` journeys/s (Poisson) for `seconds`.
fn plan(rate: f64, seconds: u32) -> (tempfile::TempDir, Plan) {
    plan_with(&format!(
        "arrivals = \"poisson\"\nmax_in_flight = 100000\ntimeout = \"1h\"\n[[load.stage]]\nduration = \"{seconds}s\"\nrate = {rate}\n"
    ))
}

/// A plan of one single-request scenario with this `[load]` body.
fn plan_with(load: &str) -> (tempfile::TempDir, Plan) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    std::fs::write(
        dir.path().join("scenarios/page.toml"),
        "description = \"one page\"\nsession = \"none\"\n[[step]]\nname = \"shop\"\nhttp = \"/shop\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    let profile = dir.path().join("profiles/p.toml");
    std::fs::write(
        &profile,
        format!("name = \"mmc\"\nenvironment = \"test\"\n[load]\n{load}[mix]\npage = 1\n"),
    )
    .unwrap();
    let plan = Plan::load(&profile, &Overrides::default()).unwrap();
    (dir, plan)
}

/// Exponential service with mean `mean_s`, as a histogram of its quantiles.
fn exponential(mean_s: f64) -> ServiceLaw {
    let mut h = Histogram::<u64>::new(3).unwrap();
    let n = 100_000;
    for i in 0..n {
        let u = (i as f64 + 0.5) / n as f64;
        h.record((-(1.0 - u).ln() * mean_s * 1e6) as u64).unwrap();
    }
    ServiceLaw::from_histogram(&h).unwrap()
}

fn laws(plan: &Plan, mean_s: f64) -> Laws {
    let mut service = vec![None; plan.step_names.len()];
    service[1] = Some(exponential(mean_s));
    Laws {
        service,
        failures: vec![None; plan.step_names.len()],
        outside_s: Vec::new(),
    }
}

#[test]
fn poisson_arrivals_on_two_workers_queue_as_erlang_c_says() {
    // λ = 15/s, S = 100 ms, c = 2: A = 1.5 Erlangs, 75% busy.
    let (_dir, plan) = plan(15.0, 4000);
    let sim = run::<std::io::Sink>(
        &plan,
        &laws(&plan, 0.1),
        Server {
            workers: 2,
            db_connections: None,
        },
        None,
    )
    .unwrap();
    let q = erlang::queue(2, 15.0, 0.1, 0.0);
    let got = &sim.queueing;
    assert!(
        (got.waited_share - q.p_wait).abs() < 0.03,
        "P(wait) {} vs {}",
        got.waited_share,
        q.p_wait
    );
    let mean_wait_s = got.wait_ms.mean / 1000.0;
    assert!(
        (mean_wait_s - q.mean_wait_s).abs() / q.mean_wait_s < 0.1,
        "mean wait {mean_wait_s} vs {}",
        q.mean_wait_s
    );
    assert!(
        (got.worker_utilization - 0.75).abs() < 0.03,
        "{}",
        got.worker_utilization
    );
    // Every journey was recorded; one event per arrival and per request's end (no think
    // time, so no other).
    let t = &sim.figures.totals;
    assert_eq!(t.planned, t.journeys);
    assert_eq!(sim.events, t.planned + t.requests);
}

#[test]
fn one_shared_connection_makes_four_workers_one_server() {
    // λ = 5/s, S = 100 ms through one connection: M/M/1 at ρ = 0.5, mean wait 100 ms.
    let (_dir, plan) = plan(5.0, 4000);
    let sim = run::<std::io::Sink>(
        &plan,
        &laws(&plan, 0.1),
        Server {
            workers: 4,
            db_connections: Some(1),
        },
        None,
    )
    .unwrap();
    let mean_wait_s = sim.queueing.wait_ms.mean / 1000.0;
    assert!((mean_wait_s - 0.1).abs() < 0.012, "mean wait {mean_wait_s}");
    assert_eq!(sim.queueing.peak_connections, 1);
}

#[test]
fn closed_terminals_follow_the_machine_repairman_model() {
    // 4 terminals, 200 ms pacing, one worker with 100 ms exponential service: the finite-
    // source queue M/M/1//4 (insensitive to the pacing's law). With r = S/Z = 0.5,
    // P0 = 1 / Σₖ 4!/(4−k)! rᵏ = 1/10.5, X = (1 − P0)/S, R = N/X − Z.
    let (_dir, plan) = plan_with(
        "model = \"closed\"\npacing = \"200ms\"\ntimeout = \"1h\"\n[[load.stage]]\nduration = \"3000s\"\nterminals = 4\n",
    );
    let sim = run::<std::io::Sink>(
        &plan,
        &laws(&plan, 0.1),
        Server {
            workers: 1,
            db_connections: None,
        },
        None,
    )
    .unwrap();
    let x_expected = (1.0 - 1.0 / 10.5) / 0.1;
    let r_expected = 4.0 / x_expected - 0.2;
    let x = sim.figures.totals.journeys as f64 / sim.duration_s;
    let r = sim.figures.transactions["page"].latency_ms.mean / 1000.0;
    assert!(
        (x - x_expected).abs() / x_expected < 0.03,
        "X {x} vs {x_expected}"
    );
    assert!(
        (r - r_expected).abs() / r_expected < 0.05,
        "R {r} vs {r_expected}"
    );
    assert_eq!(sim.figures.totals.dropped, 0);
}

#[test]
fn zero_workers_are_refused() {
    let (_dir, plan) = plan(5.0, 10);
    let l = laws(&plan, 0.1);
    let none = Server {
        workers: 0,
        db_connections: None,
    };
    assert_eq!(
        run::<std::io::Sink>(&plan, &l, none, None).err(),
        Some(SimulateError::NoWorkers)
    );
}
