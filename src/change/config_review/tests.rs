//! Each rule failing and passing, on sample odoo.conf, Deployment and HPA manifests read
//! the way the gate reads them.

use super::*;
use crate::change::deployment::{Ingress, read_pods};

const ODOO_CONF: &str = "[options]\nworkers = 6\ndb_maxconn = 8\nmax_cron_threads = 2\nlimit_time_real = 120\nlimit_memory_soft = 2147483648\nlimit_memory_hard = 2684354560\n";

/// A Deployment with a sidecar, its Service and its autoscaler, in one file.
const MANIFESTS: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: odoo
spec:
  ports:
    - port: 8069
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: odoo
  namespace: retail
spec:
  replicas: 2
  strategy:
    rollingUpdate:
      maxSurge: 25%
  template:
    spec:
      containers:
        - name: odoo
          image: odoo:17.0
          resources:
            requests:
              memory: 3Gi
              cpu: 500m
            limits:
              memory: 6Gi
        - name: metrics
          image: exporter:1
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: odoo
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: odoo
  minReplicas: 2
  maxReplicas: 4
"#;

fn deployment(dir: &Path) -> Deployment {
    let conf = dir.join("odoo.conf");
    std::fs::write(&conf, ODOO_CONF).unwrap();
    let k8s = dir.join("odoo.yaml");
    std::fs::write(&k8s, MANIFESTS).unwrap();
    Deployment {
        odoo: OdooConf::load(&conf).unwrap(),
        pods: read_pods(&[k8s], None, None).unwrap(),
        ingress: None,
        measured: Measured {
            capacity: Some(sized(16, 1.0)),
            slowest_step: Some(("run-1".into(), "pos/sync_orders".into(), 4_000.0)),
            memory_peak: Some(("run-1".into(), "mem".into(), 4.0 * 1024f64.powi(3))),
        },
    }
}

fn sized(workers_needed: u32, at_scale: f64) -> Sized {
    Sized {
        path: PathBuf::from("capacity.json"),
        workers_needed,
        at_scale,
        peak_request_rate_per_s: 120.0,
    }
}

fn pg(max_connections: u32) -> PgSnapshot {
    PgSnapshot {
        target: "postgres://odoo:***@db/retail".into(),
        max_connections,
        superuser_reserved_connections: 3,
        ..PgSnapshot::default()
    }
}

fn settings() -> Settings {
    Settings {
        memory_series: Some("mem".into()),
        ..Settings::default()
    }
}

fn by_name<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn the_manifests_give_the_autoscaled_odoo_container() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployment(dir.path());
    assert_eq!(d.pods.deployment, "odoo");
    assert_eq!(d.pods.replicas, 2);
    assert_eq!(d.pods.max_pods(), 4);
    assert_eq!(d.pods.container, "odoo");
    assert_eq!(d.pods.memory_limit, Some(6.0 * 1024f64.powi(3)));
    assert_eq!(d.pods.memory_request, Some(3.0 * 1024f64.powi(3)));
    assert!(
        d.pods
            .max_pods_key()
            .ends_with("odoo.yaml: HorizontalPodAutoscaler odoo spec.maxReplicas")
    );
    // Without the autoscaler, the replicas are the pods.
    let k8s = dir.path().join("deploy-only.yaml");
    std::fs::write(
        &k8s,
        MANIFESTS
            .split("---\napiVersion: autoscaling/v2")
            .next()
            .unwrap(),
    )
    .unwrap();
    let p = read_pods(&[k8s], None, None).unwrap();
    assert_eq!((p.hpa.clone(), p.max_pods()), (None, 2));
    // A named Deployment that is not there is said with what is.
    let e = read_pods(&[dir.path().join("odoo.yaml")], Some("odoo-web"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no Deployment named odoo-web") && e.ends_with("found: odoo"),
        "{e}"
    );
    let e = read_pods(&[dir.path().join("odoo.yaml")], None, Some("web"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no Odoo container among [odoo, metrics]"), "{e}");
}

#[test]
fn connections_fit_within_max_connections_minus_the_reserved_or_fail_naming_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = deployment(dir.path());
    // (4 pods + 1 surge pod, 25% of 4 rounded up) × (6 × 8 + 2) = 250.
    let ok = judge(&d, Ok(&pg(253)), &settings());
    let c = by_name(&ok, CONNECTIONS);
    assert_eq!(
        (c.status, c.observed, c.fail),
        (Status::Pass, Some(250.0), Some(250.0)),
        "{}",
        c.message
    );
    let tight = judge(&d, Ok(&pg(250)), &settings());
    let c = by_name(&tight, CONNECTIONS);
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.starts_with("(4 pods ("), "{}", c.message);
    assert!(c.message.contains("HorizontalPodAutoscaler odoo spec.maxReplicas) + 1 surge pod(s) of a rollout (maxSurge 25% of Deployment odoo)) × (6 workers × db_maxconn 8 + 2 cron threads) = 250 connections, and postgres://odoo:***@db/retail allows 247 (max_connections 250 − superuser_reserved_connections 3)"), "{}", c.message);
    assert!(
        c.message.contains("lower db_maxconn (or workers) in ") && c.message.contains("odoo.conf"),
        "{}",
        c.message
    );
    let down = judge(&d, Err("PostgreSQL was not read".into()), &settings());
    assert_eq!(by_name(&down, CONNECTIONS).status, Status::Fail);
}

#[test]
fn workers_cover_the_measured_need_with_the_margin() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = deployment(dir.path());
    // 4 × 6 = 24 ≥ ⌈16 × 1.25⌉ = 20.
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), WORKERS).clone();
    assert_eq!(
        (c.status, c.observed, c.fail),
        (Status::Pass, Some(24.0), Some(20.0)),
        "{}",
        c.message
    );
    d.measured.capacity = Some(sized(22, 1.5));
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), WORKERS).clone();
    assert_eq!((c.status, c.fail), (Status::Fail, Some(28.0)));
    assert!(c.message.contains("capacity.json sizes 22 at ×1.5 of the profile's peak, with the policy's 25% margin 28: raise maxReplicas or workers in"), "{}", c.message);
    d.measured.capacity = None;
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), WORKERS).clone();
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.message.contains("--capacity capacity.json"),
        "{}",
        c.message
    );
}

#[test]
fn time_limits_exceed_the_slowest_step_with_the_margin_ingress_included() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = deployment(dir.path());
    // 4 s × 1.5 = 6 s, under 120 s.
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), TIME_LIMITS).clone();
    assert_eq!(
        (c.status, c.observed, c.fail),
        (Status::Pass, Some(120.0), Some(6.0)),
        "{}",
        c.message
    );
    d.ingress = Some(Ingress {
        path: PathBuf::from("traefik.yaml"),
        timeouts: vec![(
            "http.serversTransports.odoo.forwardingTimeouts.responseHeaderTimeout".into(),
            5.0,
        )],
        rate_limits: Vec::new(),
    });
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), TIME_LIMITS).clone();
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.ends_with("raise traefik.yaml: http.serversTransports.odoo.forwardingTimeouts.responseHeaderTimeout = 5s (the slowest requests would be cut off)"), "{}", c.message);
    d.ingress = None;
    d.measured.slowest_step = Some(("run-1".into(), "report/month_end".into(), 100_000.0));
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), TIME_LIMITS).clone();
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("slowest step report/month_end p99.9 100000 ms (run-1), with the policy's 50% margin 150s"), "{}", c.message);
    assert!(
        c.message.contains("odoo.conf: limit_time_real = 120s"),
        "{}",
        c.message
    );
}

#[test]
fn memory_limit_fits_the_measured_peak_where_a_probe_measured_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = deployment(dir.path());
    // 6 GiB ≥ 4 GiB × 1.2.
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), MEMORY).clone();
    assert_eq!(c.status, Status::Pass, "{}", c.message);
    assert!(c.message.ends_with("Deployment odoo container odoo resources.limits.memory = 6 GiB; measured peak 4 GiB (mem, run-1), with the policy's 20% margin 4.8 GiB"), "{}", c.message);
    d.measured.memory_peak = Some(("run-1".into(), "mem".into(), 5.5 * 1024f64.powi(3)));
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), MEMORY).clone();
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("6.6 GiB: raise it"), "{}", c.message);
    d.measured.memory_peak = None;
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), MEMORY).clone();
    assert_eq!(c.status, Status::Warn);
    // Not asked for: no memory check at all.
    let checks = judge(&d, Ok(&pg(500)), &Settings::default());
    assert!(checks.iter().all(|c| c.name != MEMORY));
}

#[test]
fn rate_limits_below_the_sized_peak_warn() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = deployment(dir.path());
    assert!(
        judge(&d, Ok(&pg(500)), &settings())
            .iter()
            .all(|c| c.name != RATE_LIMITS)
    );
    d.ingress = Some(Ingress {
        path: PathBuf::from("traefik.yaml"),
        timeouts: Vec::new(),
        rate_limits: vec![("http.middlewares.pos.rateLimit".into(), 300.0)],
    });
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), RATE_LIMITS).clone();
    assert_eq!(
        (c.status, c.observed, c.fail),
        (Status::Pass, Some(300.0), Some(120.0)),
        "{}",
        c.message
    );
    d.ingress
        .as_mut()
        .unwrap()
        .rate_limits
        .push(("http.middlewares.shop.rateLimit".into(), 50.0));
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), RATE_LIMITS).clone();
    assert_eq!((c.status, c.observed), (Status::Warn, Some(50.0)));
    assert!(c.message.contains("below it: traefik.yaml: http.middlewares.shop.rateLimit = 50 requests/s (a limit counts per client IP"), "{}", c.message);
    d.measured.capacity = None;
    let c = by_name(&judge(&d, Ok(&pg(500)), &settings()), RATE_LIMITS).clone();
    assert_eq!(c.status, Status::Warn);
}

#[test]
fn a_rollout_surges_by_count_by_percentage_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = |strategy: &str| {
        let k8s = dir.path().join("d.yaml");
        std::fs::write(
            &k8s,
            format!("kind: Deployment\nmetadata:\n  name: odoo\nspec:\n  replicas: 10\n{strategy}  template:\n    spec:\n      containers:\n        - name: odoo\n"),
        )
        .unwrap();
        read_pods(&[k8s], None, None)
    };
    let at = |strategy: &str| manifest(strategy).unwrap().surge.at(10);
    assert_eq!(at(""), 3);
    assert_eq!(
        at("  strategy:\n    rollingUpdate:\n      maxSurge: 2\n"),
        2
    );
    assert_eq!(
        at("  strategy:\n    rollingUpdate:\n      maxSurge: \"10%\"\n"),
        1
    );
    assert_eq!(at("  strategy:\n    type: Recreate\n"), 0);
    let e = manifest("  strategy:\n    rollingUpdate:\n      maxSurge: lots\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Deployment odoo spec.strategy.rollingUpdate.maxSurge`: `\"lots\"` is neither"),
        "{e}"
    );
}
