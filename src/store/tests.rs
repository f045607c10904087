//! The store's index logic on hand-made entries: which run `last-accepted` picks, and the
//! trend's points and change-gate figures.

use std::collections::BTreeMap;

use super::entry::{Entry, RunKind, SCHEMA, StepFigures, last_accepted};
use super::trend::{page, streams};
use crate::result::{RunStatus, Status};

fn entry(id: &str, release: &str, at: &str, status: RunStatus, verdict: Status) -> Entry {
    let mut steps = BTreeMap::new();
    steps.insert(
        "pos_order_sync/create_from_ui".to_string(),
        StepFigures {
            requests: 100,
            error_rate: 0.01,
            p95_ms: 120.0,
        },
    );
    Entry {
        schema: SCHEMA.into(),
        run_id: id.into(),
        kind: RunKind::Run,
        profile: "smoke".into(),
        target: "standin".into(),
        tenant: None,
        release: Some(release.into()),
        started_at: at.into(),
        status,
        verdict,
        requests: 100,
        error_rate: 0.01,
        steps,
        headroom: None,
        shard: None,
    }
}

/// A history whose newest runs are each a kind of run that is no baseline.
fn history() -> Vec<Entry> {
    use RunStatus::*;
    use Status::*;
    let mut scale = entry("s1", "17.0.6", "2026-11-20T11:00:00Z", Completed, Pass);
    scale.kind = RunKind::Scale;
    scale.headroom = Some(1.5);
    let mut other_tenant = entry("t1", "17.0.6", "2026-11-20T12:00:00Z", Completed, Pass);
    other_tenant.tenant = Some("store-east".into());
    let mut other_target = entry("o1", "17.0.6", "2026-11-20T12:00:00Z", Completed, Pass);
    other_target.target = "http://staging:8069".into();
    vec![
        entry("a1", "17.0.4", "2026-11-01T10:00:00Z", Completed, Pass),
        entry("a2", "17.0.5", "2026-11-10T10:00:00Z", Completed, Warn),
        scale,
        entry("f1", "17.0.6", "2026-11-20T10:00:00Z", Completed, Fail),
        entry(
            "i1",
            "17.0.7",
            "2026-11-21T10:00:00Z",
            Completed,
            Inconclusive,
        ),
        entry("x1", "17.0.7", "2026-11-22T10:00:00Z", Interrupted, Pass),
        entry("ab", "17.0.8", "2026-11-23T10:00:00Z", Aborted, Fail),
        other_tenant,
        other_target,
    ]
}

#[test]
fn last_accepted_is_the_newest_completed_pass_or_warn_of_the_same_profile_target_and_tenant() {
    let h = history();
    let chosen = last_accepted(&h, "smoke", "standin", None, None).unwrap();
    // Not the failed, inconclusive, interrupted or aborted runs after it, nor the --scale
    // run, nor the other tenant's or the other target's passing runs.
    assert_eq!(chosen.run_id, "a2");
    assert_eq!(
        last_accepted(&h, "smoke", "standin", Some("store-east"), None)
            .unwrap()
            .run_id,
        "t1"
    );
    assert_eq!(
        last_accepted(&h, "smoke", "http://staging:8069", None, None)
            .unwrap()
            .run_id,
        "o1"
    );
    // The run being judged is never its own baseline.
    assert_eq!(
        last_accepted(&h, "smoke", "standin", None, Some("a2"))
            .unwrap()
            .run_id,
        "a1"
    );
    assert!(last_accepted(&h, "other", "standin", None, None).is_none());
}

#[test]
fn the_trend_has_one_point_per_release_and_the_change_gate_figures() {
    let h: Vec<Entry> = history()
        .into_iter()
        .filter(|e| e.tenant.is_none() && e.target == "standin")
        .collect();
    let s = streams(&h);
    assert_eq!(s.len(), 1);
    let s = &s[0];
    let releases: Vec<&str> = s.releases.iter().map(|p| p.release.as_str()).collect();
    assert_eq!(releases, ["17.0.4", "17.0.5", "17.0.6", "17.0.7", "17.0.8"]);
    // 17.0.6: its single run (failed) speaks for it; its --scale run brings the headroom.
    assert_eq!(s.releases[2].run_id, "f1");
    assert_eq!(s.releases[2].headroom, Some(1.5));
    // 17.0.7's newest run was interrupted: not gated. Gated: .4 .5 .6 .8; failed: .6 .8.
    assert_eq!(s.releases[3].run_id, "x1");
    assert_eq!((s.gated_releases, s.failed_releases), (4, 2));
    assert_eq!(s.failed_change_rate, Some(0.5));
    // Nov 1 to Nov 23: 22 days, 4 gated releases.
    assert!(
        (s.gated_per_week - 4.0 / (22.0 / 7.0)).abs() < 1e-9,
        "{}",
        s.gated_per_week
    );

    let html = page(&h, "/tmp/store");
    assert!(
        html.contains("<tr data-release=\"17.0.6\" class=\"failed\">"),
        "{html}"
    );
    assert!(html.contains("<tr data-release=\"17.0.5\" class=\"ok\">"));
    assert!(html.contains("50.0 % (2 of 4 gated releases failed)"));
    assert!(html.contains("id=\"chart-trend-0-headroom\""));
    assert!(
        html.contains("failed 17.0.8"),
        "failed releases are marked on the charts"
    );
}

#[test]
fn a_store_address_with_another_scheme_is_the_users_mistake() {
    let e = super::Store::open("gs://bucket/x").err().unwrap();
    assert!(e.is_input(), "{e}");
    assert!(e.to_string().contains("gs://bucket/x"), "{e}");
}

#[test]
fn a_scale_parent_enters_the_index_with_its_headroom_and_the_figures_of_its_1x_step() {
    use crate::result::{Headroom, ScaleStep, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut run = crate::verdict::fixture::run();
    run.release = Some("17.0.9".into());
    let step_dir = dir.path().join("x1");
    std::fs::create_dir_all(&step_dir).unwrap();
    std::fs::write(step_dir.join("run.json"), serde_json::to_vec(&run).unwrap()).unwrap();
    // The stepping's first step (×0.5) started earlier than the 1× step whose figures show.
    let mut first = run.clone();
    first.started_at = "2026-12-01T09:00:00Z".into();
    std::fs::create_dir_all(dir.path().join("x0.5")).unwrap();
    std::fs::write(
        dir.path().join("x0.5/run.json"),
        serde_json::to_vec(&first).unwrap(),
    )
    .unwrap();
    let step = |scale: f64, dir: &str, verdict| ScaleStep {
        scale,
        dir: dir.into(),
        verdict,
        started_ratio: Some(1.0),
        requests: 10,
        error_rate: 0.0,
        worst_p95_ms: 1.0,
        worst_p95_step: "x".into(),
        not_passed: vec![],
    };
    let mut v = Verdict::new("20261201T100000Z-smoke-ab".into(), vec![]);
    v.status = Some(RunStatus::Completed);
    v.headroom = Some(Headroom {
        multiplier: 1.0,
        steps: vec![
            step(0.5, "x0.5", Status::Pass),
            step(1.0, "x1", Status::Pass),
        ],
    });
    std::fs::write(
        dir.path().join("verdict.json"),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let e = Entry::from_dir(dir.path()).unwrap();
    assert_eq!(e.kind, RunKind::Scale);
    assert_eq!(e.run_id, "20261201T100000Z-smoke-ab");
    assert_eq!(e.headroom, Some(1.0));
    assert_eq!(e.release.as_deref(), Some("17.0.9"));
    assert_eq!(e.started_at, "2026-12-01T09:00:00Z", "the stepping's start");
    assert_ne!(run.started_at, e.started_at);
    assert_eq!(e.profile, run.profile.name);
    // Only steps, not whole journeys, with run.json's figures.
    let (name, t) = run
        .transactions
        .iter()
        .find(|(n, _)| n.contains('/'))
        .unwrap();
    assert_eq!(e.steps[name].p95_ms, t.latency_ms.p95);
    assert!(e.steps.keys().all(|k| k.contains('/')));
    // A scale parent is never a baseline.
    assert!(last_accepted(&[e], &run.profile.name, "standin", None, None).is_none());
    // A folder with no verdict is not a run to store (exit 2).
    let err = Entry::from_dir(&step_dir).unwrap_err();
    assert!(
        err.is_input() && err.to_string().contains("no verdict"),
        "{err}"
    );
}

/// A run folder holding `run` and a passing verdict.
fn judged_folder(run: &crate::result::RunResult) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("run.json"),
        serde_json::to_vec(run).unwrap(),
    )
    .unwrap();
    let mut v = crate::result::Verdict::new(run.run_id.clone(), vec![]);
    v.status = Some(RunStatus::Completed);
    std::fs::write(
        dir.path().join("verdict.json"),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn a_shard_of_several_is_no_run_to_store_and_never_a_baseline() {
    use crate::plan::shard::Shard;
    let mut run = crate::verdict::fixture::run();
    run.shard = Some(Shard { index: 1, count: 3 });
    let dir = judged_folder(&run);
    let err = Entry::from_dir(dir.path()).unwrap_err();
    assert!(err.is_input(), "{err}");
    let said = err.to_string();
    assert!(
        said.contains("shard 1/3") && said.contains("peakgate merge --store"),
        "{said}"
    );
    // The only shard of one (the whole plan), and a merged run, are ordinary runs.
    run.shard = Some(Shard { index: 0, count: 1 });
    let e = Entry::from_dir(judged_folder(&run).path()).unwrap();
    assert_eq!((e.kind, e.shard), (RunKind::Run, None));

    // An index entry marked as a shard (put by hand, or by an older peakgate) is never the
    // baseline, even when it is the newest accepted run.
    let mut h = history();
    let mut shard = entry(
        "sh",
        "17.0.9",
        "2026-11-30T10:00:00Z",
        RunStatus::Completed,
        Status::Pass,
    );
    shard.shard = Some(Shard { index: 2, count: 3 });
    h.push(shard);
    assert_eq!(
        last_accepted(&h, "smoke", "standin", None, None)
            .unwrap()
            .run_id,
        "a2"
    );
}

#[test]
fn a_local_store_is_named_by_its_absolute_path_and_a_missing_one_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let rel = super::local_dir("some/store").unwrap();
    assert!(
        rel.is_absolute() && rel.ends_with("some/store"),
        "{}",
        rel.display()
    );
    assert!(super::local_dir("s3://bucket/x").is_none());
    let missing = dir.path().join("not-yet");
    let url = missing.to_str().unwrap();
    assert_eq!(super::missing_dir(url), Some(missing.clone()));
    let s = super::Store::create(url).unwrap();
    assert_eq!(super::missing_dir(url), None);
    assert!(std::path::Path::new(&s.url).is_absolute(), "{}", s.url);
    let file_url = format!("file://{url}");
    assert_eq!(super::Store::open(&file_url).unwrap().url, s.url);
}

fn svg_of<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"chart-{id}\""))
        .unwrap_or_else(|| panic!("{id}"));
    let end = at + html[at..].find("</svg>").unwrap();
    &html[at..end]
}

/// The text of every `<text>` element of an SVG, with its x.
fn texts(svg: &str) -> Vec<(f64, String)> {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let x = t
                .split("x=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            let body = t
                .split('>')
                .nth(1)
                .unwrap_or("")
                .split('<')
                .next()
                .unwrap_or("");
            (x, body.trim().to_string())
        })
        .collect()
}

#[test]
fn a_release_with_one_point_is_a_dot_ticks_name_releases_and_the_legend_is_beside_the_plot() {
    use crate::report::html::charts::WIDTH;
    // One release with one step; another stream of three releases and nine steps.
    let one = vec![entry(
        "a1",
        "17.0.4",
        "2026-11-01T10:00:00Z",
        RunStatus::Completed,
        Status::Pass,
    )];
    let html = page(&one, "/tmp/store");
    let p95 = svg_of(&html, "trend-0-p95");
    // One release, one dot (and one in the legend's sample).
    assert_eq!(p95.matches("<circle").count(), 2, "{p95}");
    let t = texts(p95);
    assert!(
        t.iter().any(|(_, s)| s == "17.0.4"),
        "the release names its tick: {t:?}"
    );
    assert!(
        !t.iter()
            .any(|(_, s)| s.parse::<f64>().is_ok_and(|v| v.fract() != 0.0 && v < 3.0)),
        "no tick between releases: {t:?}"
    );
    // The legend is right of the plot area, never over the lines.
    let (x, _) = t
        .iter()
        .find(|(_, s)| s == "pos_order_sync/create_from_ui")
        .expect("the legend names the step");
    assert!(*x > f64::from(WIDTH) - 250.0, "legend at x {x}");
    // The error rate's axis is in percent, and every tick says so.
    let errors = texts(svg_of(&html, "trend-0-errors"));
    let ticks: Vec<&String> = errors
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.ends_with(" %"))
        .collect();
    assert!(ticks.len() >= 3, "{errors:?}");
    // 0.01 of requests failed: the axis reaches past 1 %, not 0.01.
    assert!(
        ticks
            .iter()
            .any(|s| s.trim_end_matches(" %").parse::<f64>().unwrap() >= 1.0),
        "{ticks:?}"
    );

    let mut many = Vec::new();
    for (n, r) in ["17.0.1", "17.0.2", "17.0.3"].iter().enumerate() {
        let mut e = entry(
            &format!("m{n}"),
            r,
            &format!("2026-11-0{}T10:00:00Z", n + 1),
            RunStatus::Completed,
            Status::Pass,
        );
        e.steps = (0..9)
            .map(|i| {
                let f = StepFigures {
                    requests: 10,
                    error_rate: 0.0,
                    p95_ms: 100.0 + i as f64,
                };
                (format!("s/step{i}"), f)
            })
            .collect();
        many.push(e);
    }
    let html = page(&many, "/tmp/store");
    let p95 = svg_of(&html, "trend-0-p95");
    // Nine series: eight solid lines in eight colours, the ninth dashed (drawn as segments).
    assert!(p95.matches("<polyline").count() > 9, "{p95}");
    assert_eq!(
        p95.matches("<circle").count(),
        9 * 3 + 8,
        "a dot per point, and per solid legend sample"
    );
    let t = texts(p95);
    for r in ["17.0.1", "17.0.2", "17.0.3"] {
        assert!(t.iter().any(|(_, s)| s == r), "{r}: {t:?}");
    }
}
