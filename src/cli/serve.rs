//! `peakgate serve`: the gate behind an HTTP webhook, shaped for Flagger's pre-rollout hooks
//! (a POST of `{name, namespace, phase, metadata}`; Flagger advances on 2xx and counts any
//! other status as a failed check, logging the body). `metadata.profile` names a profile in
//! `--profiles`; the run is `peakgate run` in a child process, and its exit code is the answer.
//! One run at a time: a second request while one runs is told `429 busy`. Nothing secret is
//! read from a request (passwords come from serve's own environment) or written to the log.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::sync::Semaphore;

use anyhow::Context;

use super::{Exit, UsageError};
use crate::config::profile::ProfileSource;
use crate::session::Shutdown;

/// The largest webhook body read: Flagger's payload is a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// The folder of profiles a request may name: `metadata.profile = "smoke"` runs
    /// DIR/smoke.toml. Nothing outside it can be run.
    #[arg(long, value_name = "DIR")]
    pub profiles: PathBuf,
    /// Passed to each run: the Odoo to drive (default: each profile's own `[target]`; serve
    /// refuses to start when a served profile has neither, as its runs would drive only a
    /// built-in stand-in).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Passed to each run: where run folders are created.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    #[command(flatten)]
    pub store: super::store::StoreArgs,
    /// Passed to each run: a warn verdict fails the check.
    #[arg(long)]
    pub fail_on_warn: bool,
}

/// Flagger's webhook payload.
#[derive(Debug, Deserialize, Default)]
struct Hook {
    name: String,
    namespace: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// The payload read from a body, field by field, so that a refusal names the field and the
/// shape it wanted and never echoes a value (serde's own message quotes it). What parsed is
/// kept for the log line of a refusal.
fn hook_from(body: &[u8]) -> (Hook, Result<(), String>) {
    let mut hook = Hook::default();
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (hook, Err("the body is not JSON: POST a Flagger webhook payload {name, namespace, phase, metadata}".into()));
    };
    let Some(obj) = v.as_object() else {
        return (
            hook,
            Err("the body must be a JSON object {name, namespace, phase, metadata}".into()),
        );
    };
    let mut why = Ok(());
    let mut text = |field: &str, required: bool, into: &mut String| match obj.get(field) {
        Some(serde_json::Value::String(s)) => *into = s.clone(),
        None if !required => {}
        None => {
            why = why
                .clone()
                .and(Err(format!("`{field}` is missing: a string was expected")));
        }
        Some(_) => {
            why = why.clone().and(Err(format!("`{field}` must be a string")));
        }
    };
    text("name", true, &mut hook.name);
    text("namespace", true, &mut hook.namespace);
    text("phase", false, &mut hook.phase);
    match obj.get("metadata") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(m)) => {
            for (k, v) in m {
                match v.as_str() {
                    Some(v) => {
                        hook.metadata.insert(k.clone(), v.to_string());
                    }
                    None if why.is_ok() => {
                        let k = if label_ok(k) { k.as_str() } else { "?" };
                        why = Err(format!("metadata.{k} must be a string"));
                    }
                    None => {}
                }
            }
        }
        Some(_) => {
            why = why.and(Err(
                "`metadata` must be an object of strings (profile, release, baseline)".into(),
            ));
        }
    }
    (hook, why)
}

/// `namespace/name (phase P)` of a request for the log, from whatever parsed: a value that is
/// not a Kubernetes name is shown as `?` (it could carry a line of its own, or a secret).
fn who(hook: &Hook) -> String {
    let shown = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else if label_ok(s) {
            s.to_string()
        } else {
            "?".to_string()
        }
    };
    format!(
        "{}/{} (phase {})",
        shown(&hook.namespace),
        shown(&hook.name),
        shown(&hook.phase)
    )
}

/// The metadata keys serve reads; any other is refused, so that nothing unexpected (a token
/// someone put there) is carried into a run or a log.
const KEYS: [&str; 3] = ["profile", "release", "baseline"];

/// A run the request asks for, checked.
#[derive(Debug, PartialEq)]
struct Ask {
    profile: PathBuf,
    profile_name: String,
    release: Option<String>,
    baseline: Option<String>,
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// Checks the payload's metadata: a profile name (no path), an optional release label, an
/// optional `baseline = "last-accepted"`.
fn ask(hook: &Hook, profiles: &Path) -> Result<Ask, String> {
    // They go into the log: Kubernetes names and a phase word, nothing else (no line breaks).
    if !label_ok(&hook.name)
        || !label_ok(&hook.namespace)
        || !(hook.phase.is_empty() || label_ok(&hook.phase))
    {
        return Err("name, namespace and phase must be Kubernetes names".into());
    }
    if let Some(k) = hook.metadata.keys().find(|k| !KEYS.contains(&k.as_str())) {
        let k = if label_ok(k) { k.as_str() } else { "?" };
        return Err(format!(
            "metadata key `{k}` is not one peakgate reads (profile, release, baseline)"
        ));
    }
    let name = hook
        .metadata
        .get("profile")
        .ok_or("metadata.profile is missing: name a profile of the --profiles folder")?;
    if !label_ok(name) || name.starts_with('.') {
        return Err("metadata.profile must be a profile's file name without .toml (letters, digits, . _ - +)".into());
    }
    let profile = profiles.join(format!("{name}.toml"));
    if !profile.is_file() {
        return Err(format!("no profile `{name}` in the served profiles"));
    }
    let release = hook.metadata.get("release").cloned();
    if release.as_deref().is_some_and(|r| !label_ok(r)) {
        return Err("metadata.release must be a release label (letters, digits, . _ - +)".into());
    }
    let baseline = hook.metadata.get("baseline").cloned();
    if baseline
        .as_deref()
        .is_some_and(|b| b != super::store::LAST_ACCEPTED)
    {
        return Err("metadata.baseline can only be `last-accepted` (the results store's)".into());
    }
    Ok(Ask {
        profile,
        profile_name: name.clone(),
        release,
        baseline,
    })
}

/// The HTTP status of a run's exit code: 2xx only for a pass.
fn status_for(code: Option<i32>) -> (StatusCode, &'static str) {
    match code {
        Some(0) => (StatusCode::OK, "pass"),
        Some(1) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the release failed the gate",
        ),
        Some(2) => (StatusCode::BAD_REQUEST, "bad input or a failed preflight"),
        Some(3) => (StatusCode::SERVICE_UNAVAILABLE, "the run was interrupted"),
        Some(4) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "inconclusive: the load generator could not keep its plan",
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "peakgate failed"),
    }
}

struct State {
    args: ServeArgs,
    scrubber: crate::secrets::Scrubber,
    one_run: Semaphore,
    exe: PathBuf,
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string() + "\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn refuse(status: StatusCode, why: &str) -> Response<Full<Bytes>> {
    json(status, serde_json::json!({ "error": why }))
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == Method::GET && req.uri().path() == "/healthz" {
        return Ok(json(StatusCode::OK, serde_json::json!({ "status": "ok" })));
    }
    if req.method() != Method::POST || req.uri().path() != "/" {
        return Ok(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST a Flagger webhook payload to /",
        ));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(refuse(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 KiB")),
    };
    let (hook, parsed) = hook_from(&body);
    let ask = match parsed.and_then(|()| ask(&hook, &state.args.profiles)) {
        Ok(a) => a,
        Err(why) => {
            eprintln!("peakgate serve: {}: refused: {why}", who(&hook));
            return Ok(refuse(StatusCode::BAD_REQUEST, &why));
        }
    };
    let canary = format!("{}/{}", hook.namespace, hook.name);
    // Every log line names the canary and its phase.
    let logged = who(&hook);
    let Ok(_permit) = state.one_run.try_acquire() else {
        eprintln!("peakgate serve: {logged}: busy (a run is in progress)");
        let mut r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "busy: a run is in progress; peakgate serve runs one at a time",
        );
        r.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("30"),
        );
        return Ok(r);
    };
    eprintln!(
        "peakgate serve: {canary} (phase {}): running profile {}, release {}",
        hook.phase,
        ask.profile_name,
        ask.release.as_deref().unwrap_or("-")
    );
    let started = Instant::now();
    let st = state.clone();
    let done = tokio::task::spawn_blocking(move || run(&st, &ask)).await;
    let (code, run_dir, cause) = match done {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            eprintln!("peakgate serve: {logged}: cannot start the run: {e}");
            return Ok(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot start the run",
            ));
        }
        Err(_) => {
            eprintln!("peakgate serve: {logged}: the run's task failed");
            return Ok(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the run's task failed",
            ));
        }
    };
    let verdict = run_dir
        .as_deref()
        .and_then(|d| crate::result::read_verdict(d).ok());
    let (status, meaning) = status_for(code);
    // A run that ended without a verdict (bad input, a failed preflight) says why in its last
    // error line; secrets of serve's environment are scrubbed from it.
    let error = (verdict.is_none() && code != Some(0))
        .then(|| cause.map(|c| state.scrubber.scrub(&c)))
        .flatten();
    eprintln!(
        "peakgate serve: {logged}: exit {} ({meaning}) in {:.1}s{}",
        code.map_or("-".into(), |c| c.to_string()),
        started.elapsed().as_secs_f64(),
        run_dir
            .as_ref()
            .map(|d| format!(", run {}", d.display()))
            .unwrap_or_default()
    );
    Ok(json(
        status,
        serde_json::json!({
            "canary": canary,
            "exit": code,
            "result": meaning,
            "verdict": verdict.as_ref().map(|v| v.verdict),
            "run_id": verdict.as_ref().map(|v| v.run_id.clone()),
            "not_passed": verdict.as_ref().map(|v| v.checks.iter()
                .filter(|c| c.status != crate::result::Status::Pass)
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()),
            "run_dir": run_dir,
            "error": error,
        }),
    ))
}

/// The last error line a run wrote (`error: ...`), at most 500 characters.
fn cause_of(stderr: &str) -> Option<String> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("error: "))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))?;
    let line = line.strip_prefix("error: ").unwrap_or(line).trim();
    Some(line.chars().take(500).collect())
}

/// The values of serve's environment that may be secret: variables named like a password,
/// secret, token or key, and the passwords of URLs.
fn environment_scrubber() -> crate::secrets::Scrubber {
    let mut secrets = Vec::new();
    for (k, v) in std::env::vars() {
        let k = k.to_ascii_uppercase();
        if ["PASSWORD", "SECRET", "TOKEN", "KEY"]
            .iter()
            .any(|w| k.contains(w))
        {
            secrets.push(v.clone());
        }
        secrets.extend(crate::secrets::url_passwords(&v));
    }
    crate::secrets::Scrubber::new(secrets)
}

/// `peakgate run` as a child process: its exit code, the run folder it printed, and its last
/// error line.
type Ran = (Option<i32>, Option<PathBuf>, Option<String>);

fn run(state: &State, ask: &Ask) -> std::io::Result<Ran> {
    let a = &state.args;
    let mut cmd = std::process::Command::new(&state.exe);
    cmd.args(["run", "--quiet", "--profile"])
        .arg(&ask.profile)
        .arg("--out")
        .arg(&a.out)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(t) = &a.target {
        cmd.args(["--target", t]);
    }
    if let Some(r) = &ask.release {
        cmd.args(["--release", r]);
    }
    if let Some(b) = &ask.baseline {
        cmd.args(["--baseline", b]);
    }
    if let Some(s) = &a.store.url {
        cmd.args(["--store", s]);
    }
    if a.fail_on_warn {
        cmd.arg("--fail-on-warn");
    }
    let out = cmd.output()?;
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = (!printed.is_empty()).then(|| PathBuf::from(printed));
    // The run's own log goes on to serve's, as it would have had it been inherited.
    let said = String::from_utf8_lossy(&out.stderr);
    eprint!("{said}");
    Ok((out.status.code(), dir, cause_of(&said)))
}

/// Refuses a served folder with a profile that names no target: without `--target`, its runs
/// would drive only the built-in stand-in and approve a canary they never touched.
fn untargeted(profiles: &Path) -> anyhow::Result<()> {
    let mut bare = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(profiles)
        .with_context(|| format!("--profiles {}: cannot list it", profiles.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let src = ProfileSource::read(&path)?;
        let f = &src.file;
        let tenants_all_targeted =
            !f.tenants.is_empty() && f.tenants.iter().all(|t| t.url.is_some());
        if f.target.is_none() && !tenants_all_targeted {
            bare.push(path.display().to_string());
        }
    }
    if bare.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "no target: {} name no [target] url, and no --target URL was given; serve gates a canary only against the Odoo it runs on (its runs would otherwise drive the built-in stand-in)",
        bare.join(", ")
    ))
    .into())
}

pub fn serve(
    args: ServeArgs,
    runtime: &tokio::runtime::Runtime,
    stop: &Shutdown,
) -> anyhow::Result<Exit> {
    if !args.profiles.is_dir() {
        return Err(UsageError(format!(
            "--profiles {}: not a folder of profiles",
            args.profiles.display()
        ))
        .into());
    }
    let exe = std::env::current_exe()?;
    let listen = args.listen;
    if args.target.is_none() {
        untargeted(&args.profiles)?;
    }
    let state = Arc::new(State {
        scrubber: environment_scrubber(),
        args,
        one_run: Semaphore::new(1),
        exe,
    });
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| UsageError(format!("cannot listen on {listen}: {e}")))?;
        println!(
            "peakgate serve listening on http://{} (profiles in {})",
            listener.local_addr()?,
            state.args.profiles.display()
        );
        loop {
            let (stream, _) = tokio::select! {
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
                },
                _ = stop.stopping().cancelled() => break,
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(state.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
        // A run in progress finishes (its child got the same signal when it came from the
        // terminal) before serve exits.
        let _ = state.one_run.acquire().await;
        Ok(Exit::Pass)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(meta: &[(&str, &str)]) -> Hook {
        Hook {
            name: "odoo".into(),
            namespace: "retail".into(),
            phase: "Progressing".into(),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_request_names_a_served_profile_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smoke.toml"), "").unwrap();
        let ok = ask(
            &hook(&[("profile", "smoke"), ("release", "17.0.4")]),
            dir.path(),
        )
        .unwrap();
        assert_eq!(ok.profile, dir.path().join("smoke.toml"));
        assert_eq!(ok.release.as_deref(), Some("17.0.4"));
        for (meta, why) in [
            (vec![], "metadata.profile is missing"),
            (
                vec![("profile", "../etc/passwd")],
                "file name without .toml",
            ),
            (vec![("profile", "other")], "no profile `other`"),
            (
                vec![("profile", "smoke"), ("token", "s3cret")],
                "`token` is not one",
            ),
            (
                vec![("profile", "smoke"), ("baseline", "/tmp/x")],
                "only be `last-accepted`",
            ),
            (
                vec![("profile", "smoke"), ("release", "a b")],
                "release label",
            ),
        ] {
            let e = ask(&hook(&meta), dir.path()).unwrap_err();
            assert!(e.contains(why), "{meta:?}: {e}");
            assert!(!e.contains("s3cret"), "a value is never echoed: {e}");
        }
    }

    #[test]
    fn a_forged_name_cannot_write_a_line_of_its_own_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smoke.toml"), "").unwrap();
        let mut forged = hook(&[("profile", "smoke")]);
        forged.name = "odoo\npeakgate serve: retail/odoo: exit 0 (pass)".into();
        let e = ask(&forged, dir.path()).unwrap_err();
        assert!(e.contains("Kubernetes names"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn a_malformed_payload_is_told_its_field_and_shape_never_its_value() {
        for (body, field) in [
            (
                r#"{"name": "odoo", "namespace": "retail", "metadata": "SECRETTOKEN999"}"#,
                "`metadata` must be an object",
            ),
            (
                r#"{"name": {"x": "SECRETTOKEN999"}, "namespace": "retail"}"#,
                "`name` must be a string",
            ),
            (r#"{"namespace": "retail"}"#, "`name` is missing"),
            (
                r#"{"name": "odoo", "namespace": "retail", "metadata": {"profile": 5, "SECRETTOKEN999 x": 1}}"#,
                "must be a string",
            ),
            ("SECRETTOKEN999", "not JSON"),
            (r#"["SECRETTOKEN999"]"#, "JSON object"),
        ] {
            let (hook, why) = hook_from(body.as_bytes());
            let why = why.unwrap_err();
            assert!(why.contains(field), "{body}: {why}");
            assert!(!why.contains("SECRETTOKEN999"), "{why}");
            assert!(!who(&hook).contains("SECRETTOKEN999"));
        }
        // What parsed names the request in the log line of its refusal.
        let (hook, why) = hook_from(
            br#"{"name": "odoo", "namespace": "retail", "phase": "Progressing", "metadata": 7}"#,
        );
        assert!(why.is_err());
        assert_eq!(who(&hook), "retail/odoo (phase Progressing)");
        let forged = Hook {
            name: "odoo\nexit 0".into(),
            ..Hook::default()
        };
        assert_eq!(who(&forged), "-/? (phase -)");
    }

    #[test]
    fn a_run_without_a_verdict_answers_with_its_error_line() {
        let said =
            "peakgate: preflight...\nerror: profiles/x.toml:3: [mix] `nope` is not a scenario\n";
        assert_eq!(
            cause_of(said).as_deref(),
            Some("profiles/x.toml:3: [mix] `nope` is not a scenario")
        );
        assert_eq!(cause_of(""), None);
    }

    #[test]
    fn a_served_profile_without_a_target_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("staging.toml"),
            "name = \"staging\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"5s\"\nrate = 1\n[mix]\nproduct_search = 1\n[target]\nurl = \"http://odoo:8069\"\n",
        )
        .unwrap();
        untargeted(dir.path()).unwrap();
        std::fs::write(dir.path().join("smoke.toml"), "name = \"smoke\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"5s\"\nrate = 1\n[mix]\nproduct_search = 1\n").unwrap();
        let e = untargeted(dir.path()).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "exit 2: {e}");
        let e = e.to_string();
        assert!(
            e.contains("smoke.toml") && !e.contains("staging.toml"),
            "{e}"
        );
    }

    #[test]
    fn only_a_pass_is_2xx_and_inconclusive_is_told_apart_from_a_failure() {
        assert_eq!(status_for(Some(0)).0, StatusCode::OK);
        assert_eq!(status_for(Some(1)).0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status_for(Some(4)).0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_for(Some(3)).0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_for(Some(2)).0, StatusCode::BAD_REQUEST);
        assert_eq!(status_for(None).0, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(status_for(Some(4)).1.contains("inconclusive"));
    }
}
