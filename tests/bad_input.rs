//! Bad files and unreachable targets: a located error and exit 2, or counted errors; never
//! a panic.

use predicates::prelude::*;
use predicates::str::contains;

use crate::common::{Workspace, peakgate, repo_file};

const GOOD_LOAD: &str = "[load]\n[[load.stage]]\nduration = \"2s\"\nrate = 5\n";

/// `peakgate check` on a profile: exit 2 and a message containing every `needle`.
fn refused(profile: &std::path::Path, needles: &[&str]) {
    let mut assert = peakgate()
        .arg("check")
        .arg(profile)
        .assert()
        .code(2)
        .stderr(contains("panicked").not());
    for n in needles {
        assert = assert.stderr(contains(*n));
    }
}

#[test]
fn a_toml_syntax_error_names_the_file_line_and_column() {
    let ws = Workspace::new();
    let p = ws.write(
        "profiles/broken.toml",
        "name = \"broken\"\nenvironment = \"staging\"\n[load\n",
    );
    refused(&p, &["broken.toml:3:"]);
}

#[test]
fn an_unknown_key_is_refused_at_its_line() {
    let ws = Workspace::new();
    let p = ws.profile("typo", &format!("name = \"typo\"\nenvironment = \"staging\"\n{GOOD_LOAD}max_inflight = 3\n[mix]\npos_order_sync = 1\n"));
    refused(&p, &["typo.toml:8:", "unknown field `max_inflight`"]);
}

#[test]
fn an_unknown_scenario_in_the_mix_is_named() {
    let ws = Workspace::new();
    let p = ws.profile(
        "mix",
        &format!("name = \"mix\"\nenvironment = \"staging\"\n{GOOD_LOAD}[mix]\nnope = 1\n"),
    );
    refused(&p, &["mix.toml:9:", "unknown scenario `nope`"]);
}

#[test]
fn a_negative_rate_is_refused_at_its_line() {
    let ws = Workspace::new();
    let p = ws.profile("neg", "name = \"neg\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"2s\"\nrate = -5\n[mix]\npos_order_sync = 1\n");
    refused(&p, &["neg.toml:7:", "`rate` must be a number ≥ 0"]);
}

#[test]
fn a_bad_duration_is_refused_at_its_line() {
    let ws = Workspace::new();
    let p = ws.profile("dur", "name = \"dur\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"ten seconds\"\nrate = 5\n[mix]\npos_order_sync = 1\n");
    refused(&p, &["dur.toml:6:", "not a duration"]);
}

#[test]
fn a_production_environment_is_refused_unless_allowed() {
    let ws = Workspace::new();
    let p = ws.profile(
        "prod",
        &format!(
            "name = \"prod\"\nenvironment = \"production\"\n{GOOD_LOAD}[mix]\npos_order_sync = 1\n"
        ),
    );
    refused(&p, &["prod.toml:3:", "--allow-production"]);
    peakgate()
        .arg("check")
        .arg("--allow-production")
        .arg(&p)
        .assert()
        .success();
}

#[test]
fn an_unset_secret_variable_is_named() {
    let ws = Workspace::new();
    let p = ws.profile(
        "secret",
        &format!(
            "name = \"secret\"\nenvironment = \"staging\"\n[target]\nurl = \"http://127.0.0.1:9\"\npassword_env = \"PEAKGATE_TEST_UNSET_SECRET\"\n{GOOD_LOAD}[mix]\npos_order_sync = 1\n"
        ),
    );
    refused(
        &p,
        &["secret.toml:6:", "PEAKGATE_TEST_UNSET_SECRET", "is not set"],
    );
}

#[test]
fn credentials_in_the_target_url_are_refused() {
    let ws = Workspace::new();
    let p = ws.profile("creds", &format!("name = \"creds\"\nenvironment = \"staging\"\n[target]\nurl = \"http://admin:pw@127.0.0.1:9\"\n{GOOD_LOAD}[mix]\necommerce_cart = 1\n"));
    refused(&p, &["password_env"]);
}

fn own_scenario(ws: &Workspace, text: &str) -> std::path::PathBuf {
    ws.write("scenarios/mine.toml", text);
    ws.write("scenarios/data/items.csv", "id,price\n1,2.5\n");
    ws.write(
        "profiles/own.toml",
        &format!("name = \"own\"\nenvironment = \"staging\"\n{GOOD_LOAD}[mix]\nmine = 1\n"),
    )
}

#[test]
fn a_scenario_syntax_error_names_the_scenario_file_and_line() {
    let ws = Workspace::new();
    let p = own_scenario(&ws, "description = \"x\"\n[[step]\nname = \"a\"\n");
    refused(&p, &["mine.toml:2:"]);
}

#[test]
fn a_missing_data_file_is_named() {
    let ws = Workspace::new();
    let p = own_scenario(
        &ws,
        "[vars]\np = { gen = \"pick\", data = \"missing.csv\", column = \"id\" }\n[[step]]\nname = \"a\"\nhttp = \"/shop\"\n",
    );
    refused(&p, &["mine.toml:2:", "missing.csv", "not found"]);
}

#[test]
fn an_unknown_placeholder_is_named() {
    let ws = Workspace::new();
    let p = own_scenario(
        &ws,
        "[[step]]\nname = \"a\"\nhttp = \"/shop/product-{{product}}\"\n",
    );
    refused(&p, &["mine.toml:2:", "{{product}}"]);
}

#[test]
fn a_step_with_two_calls_is_refused() {
    let ws = Workspace::new();
    let p = own_scenario(
        &ws,
        "[[step]]\nname = \"a\"\nhttp = \"/shop\"\njsonrpc = \"/shop/cart/update_json\"\n",
    );
    refused(&p, &["mine.toml:2:", "exactly one of"]);
}

#[test]
fn run_exits_2_on_a_bad_profile_and_writes_nothing() {
    let ws = Workspace::new();
    let p = ws.write("profiles/broken.toml", "name = \n");
    peakgate()
        .arg("run")
        .arg("--profile")
        .arg(&p)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .code(2)
        .stderr(contains("broken.toml:1:"));
    assert!(!ws.out().exists());
}

#[test]
fn an_unknown_standin_release_is_refused() {
    let ws = Workspace::new();
    let p = ws.profile("rel", &format!("name = \"rel\"\nenvironment = \"staging\"\n[standin]\nrelease = \"nope\"\n{GOOD_LOAD}[mix]\npos_order_sync = 1\n"));
    refused(&p, &["unknown release variant `nope`", "slow-pos-sync"]);
}

#[test]
fn an_unreachable_target_stops_at_preflight_with_exit_2_and_no_run_folder() {
    let ws = Workspace::new();
    // Port 9 (discard) is closed on loopback: every connection is refused.
    let p = ws.profile("down", "name = \"down\"\nenvironment = \"staging\"\n[load]\ntimeout = \"2s\"\n[[load.stage]]\nduration = \"2s\"\nrate = 10\n[mix]\necommerce_cart = 1\npos_order_sync = 1\n");
    peakgate()
        .args(["run", "--quiet", "--target", "http://127.0.0.1:9"])
        .env("ODOO_PASSWORD", "not-used-by-a-closed-port")
        .arg("--profile")
        .arg(&p)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .code(2)
        .stderr(contains(
            "preflight: cannot reach http://127.0.0.1:9: connect 127.0.0.1:9: Connection refused",
        ))
        .stderr(contains("not-used-by-a-closed-port").not())
        .stderr(contains("panicked").not());
    // Nothing was measured, so nothing is judged: no run folder, no verdict.
    assert_eq!(
        std::fs::read_dir(ws.out()).map(|d| d.count()).unwrap_or(0),
        0
    );
}

#[test]
fn an_odoo_version_peakgate_does_not_drive_stops_at_preflight() {
    let ws = Workspace::new();
    let config = ws.write("odoo19.toml", "server_version = \"19.0\"\n");
    let standin = crate::common::StandinProcess::start(&[
        std::ffi::OsStr::new("--config"),
        config.as_os_str(),
    ]);
    let p = ws.profile(
        "v19",
        &format!(
            "name = \"v19\"\nenvironment = \"staging\"\n{GOOD_LOAD}[mix]\nreplenishment_run = 1\n"
        ),
    );
    peakgate()
        .args(["run", "--quiet", "--target", &standin.url, "--profile"])
        .arg(&p)
        .arg("--out")
        .arg(ws.out())
        .env("ODOO_PASSWORD", "admin")
        .assert()
        .code(2)
        .stderr(contains("the target runs Odoo 19.0, which peakgate does not drive (it speaks Odoo 16.0, 17.0, 18.0)"));
    // Named in the profile, it is refused before any target is asked.
    let pinned = ws.profile("pin19", &format!("name = \"pin19\"\nenvironment = \"staging\"\nodoo_version = \"19.0\"\n{GOOD_LOAD}[mix]\nreplenishment_run = 1\n"));
    refused(
        &pinned,
        &[
            "pin19.toml:4:",
            "Odoo 19.0 is not supported: peakgate speaks Odoo 16.0, 17.0, 18.0",
        ],
    );
}

/// Other wrong targets are refused before any load with their cause: HTTPS spoken to a plain
/// HTTP port (a TLS error), and a URL with an extra path (no Odoo answers there).
#[test]
fn https_against_http_and_an_extra_path_stop_at_preflight_with_exit_2() {
    let ws = Workspace::new();
    let server = crate::common::StandinProcess::start::<&str>(&[]);
    let p = ws.profile("wrong", "name = \"wrong\"\nenvironment = \"staging\"\n[load]\ntimeout = \"2s\"\n[[load.stage]]\nduration = \"2s\"\nrate = 10\n[mix]\nproduct_search = 1\n");
    let https = server.url.replace("http://", "https://");
    let extra = format!("{}/odoo", server.url);
    for (target, cause) in [
        (https.as_str(), "TLS with"),
        (extra.as_str(), "does not answer like Odoo"),
    ] {
        peakgate()
            .args(["run", "--quiet", "--target", target])
            .env("ODOO_PASSWORD", "admin")
            .arg("--profile")
            .arg(&p)
            .arg("--out")
            .arg(ws.out())
            .assert()
            .code(2)
            .stderr(contains(cause))
            .stderr(contains("panicked").not());
    }
    assert_eq!(
        std::fs::read_dir(ws.out()).map(|d| d.count()).unwrap_or(0),
        0
    );
}

/// `check` and `run` of `profile` with `flags`, each asserted to exit 2 (refused before any
/// load), for the caller to check what they said.
fn check_and_run_refuse(
    ws: &Workspace,
    profile: &std::path::Path,
    flags: &[&str],
) -> Vec<assert_cmd::assert::Assert> {
    ["check", "run"]
        .into_iter()
        .map(|cmd| {
            let mut c = peakgate();
            c.arg(cmd);
            if cmd == "run" {
                c.arg("--out").arg(ws.out()).arg("--profile");
            }
            c.arg(profile).args(flags).assert().code(2)
        })
        .collect()
}

/// `--duration 0s` used to print "NaN journeys" and leave an unreadable run.json: refused.
#[test]
fn duration_override_zero_is_refused() {
    let ws = Workspace::new();
    let p = ws.profile(
        "zero",
        &format!(
            "name = \"zero\"\nenvironment = \"staging\"\n{GOOD_LOAD}[mix]\nproduct_search = 1\n"
        ),
    );
    for assert in check_and_run_refuse(&ws, &p, &["--duration", "0s"]) {
        assert
            .stderr(contains("--duration: must be longer than zero"))
            .stderr(contains("panicked").not());
    }
    // The same kind by other roads: a flag of 1 ns, and a calendar compressing a day to 1 ns.
    for assert in check_and_run_refuse(&ws, &p, &["--duration", "1ns"]) {
        assert.stderr(contains(
            "--duration: the plan lasts 1ns, less than the 1 s a run needs",
        ));
    }
    let calendar =
        std::fs::read_to_string(repo_file("profiles/peak-season-rehearsal.toml")).unwrap();
    let compress = calendar
        .lines()
        .find(|l| l.starts_with("compress"))
        .expect("the rehearsal compresses its day");
    let p = ws.profile(
        "compressed",
        &calendar.replace(compress, "compress = \"24h -> 1ns\""),
    );
    for assert in check_and_run_refuse(&ws, &p, &[]) {
        assert
            .stderr(contains("compress").and(contains("less than the 1 s a run needs")))
            .stderr(contains("NaN").not());
    }
}

/// Rates no process can plan and runs of years are refused with a clear message, not left
/// to run forever.
#[test]
fn absurd_rates_and_durations_are_refused() {
    let ws = Workspace::new();
    let fast = ws.profile(
        "fast",
        "name = \"fast\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"5s\"\nrate = 1e300\n[mix]\nproduct_search = 1\n",
    );
    refused(
        &fast,
        &[
            "fast.toml:7:8: a level of",
            "more than one process can drive",
        ],
    );
    let long = ws.profile(
        "long",
        "name = \"long\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"400days\"\nrate = 1\n[mix]\nproduct_search = 1\n",
    );
    refused(
        &long,
        &[
            "long.toml:6:12: the stage lasts",
            "more than peakgate runs in one go",
        ],
    );
    // A --scale step no process can drive is refused before the first step's load: no step
    // runs, no folder is left.
    let ok = ws.profile(
        "ok",
        "name = \"ok\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"5s\"\nrate = 2\n[mix]\nproduct_search = 1\n",
    );
    let started = std::time::Instant::now();
    peakgate()
        .args(["run", "--quiet", "--scale", "0.5,1e300", "--out"])
        .arg(ws.out())
        .arg("--profile")
        .arg(&ok)
        .assert()
        .code(2)
        .stderr(contains("--scale: step ×").and(contains("more than one process can drive")));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "a step ran first"
    );
    assert!(!ws.out().exists() || std::fs::read_dir(ws.out()).unwrap().next().is_none());
}

/// A small rate shows as it is in `check`, never rounded to 0.0.
#[test]
fn small_rates_are_shown_as_they_are_in_check() {
    let ws = Workspace::new();
    let p = ws.profile(
        "slow",
        "name = \"slow\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"100s\"\nrate = 0.04\n[mix]\nproduct_search = 1\n",
    );
    peakgate()
        .arg("check")
        .arg(&p)
        .assert()
        .success()
        .stdout(contains("0.04"));
    // However small: a rate above 0 never reads as 0.
    let tiny = ws.profile(
        "tiny",
        "name = \"tiny\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"100s\"\nrate = { from = 1e-7, to = 0.04 }\n[mix]\nproduct_search = 1\n",
    );
    peakgate()
        .arg("check")
        .arg(&tiny)
        .assert()
        .success()
        .stdout(contains("0.0000001 → 0.04"));
}

/// Template mistakes are located errors at `check`: an unclosed `{{name` (it would be sent as
/// written) and a `[vars]` entry shadowing a built-in such as `login` (it would be ignored).
#[test]
fn template_mistakes_are_refused_at_check() {
    let ws = Workspace::new();
    ws.write(
        "sc/unclosed.toml",
        "session = \"user\"\n[[step]]\nname = \"find\"\ncall_kw = { model = \"res.partner\", method = \"name_search\" }\nkwargs = { name = \"{{login\" }\n",
    );
    ws.write(
        "sc/shadow.toml",
        "session = \"user\"\n[vars]\nlogin = { gen = \"int\", min = 1, max = 2 }\n[[step]]\nname = \"find\"\ncall_kw = { model = \"res.partner\", method = \"name_search\" }\nkwargs = { name = \"{{login}}\" }\n",
    );
    ws.write(
        "sc/saveuid.toml",
        "session = \"user\"\n[[step]]\nname = \"me\"\ncall_kw = { model = \"res.users\", method = \"read\" }\nargs = [[2]]\nsave = { uid = \"/0/id\" }\n",
    );
    ws.write(
        "sc/expect.toml",
        "session = \"user\"\n[[step]]\nname = \"me\"\ncall_kw = { model = \"res.users\", method = \"read\" }\nargs = [[2]]\nexpect = { \"/0/login\" = \"{{login\" }\n",
    );
    // Each at its place: a step's mistakes at its `name`, a var's at its value.
    for (scenario, needle) in [
        (
            "unclosed",
            "unclosed.toml:3:8: `kwargs`: `{{login` opens a placeholder",
        ),
        ("shadow", "shadow.toml:3:9: `login` is a built-in value"),
        ("saveuid", "saveuid.toml:3:8: `uid` is a built-in value"),
        (
            "expect",
            "expect.toml:3:8: `expect.\"/0/login\"`: `{{login` opens",
        ),
    ] {
        let p = ws.write(
            &format!("{scenario}.toml"),
            &format!("name = \"{scenario}\"\nenvironment = \"staging\"\nscenarios_dir = \"sc\"\n{GOOD_LOAD}[mix]\n{scenario} = 1\n"),
        );
        refused(&p, &[needle, &format!("{scenario}.toml")]);
    }
}

/// Names keep to one character set, checked where they are written: a step named with `/`
/// (which escaped the gate's `*/*`) or with a space or comma (which lost its HDR log tag) is a
/// located error.
#[test]
fn step_names_outside_the_name_rule_are_refused_at_their_line() {
    let ws = Workspace::new();
    for (file, name) in [
        ("slash", "partner/lookup"),
        ("space", "find customer"),
        ("comma", "a,b"),
    ] {
        ws.write(
            &format!("sc/{file}.toml"),
            &format!("session = \"user\"\n[[step]]\nname = \"{name}\"\ncall_kw = {{ model = \"res.partner\", method = \"name_search\" }}\n"),
        );
        let p = ws.write(
            &format!("{file}.toml"),
            &format!("name = \"{file}\"\nenvironment = \"staging\"\nscenarios_dir = \"sc\"\n{GOOD_LOAD}[mix]\n{file} = 1\n"),
        );
        refused(&p, &[&format!("{file}.toml:3:"), "letters, digits"]);
    }
}

/// A gate selector that matches no step is known before the run: a located error naming the
/// nearest names, so a typo never switches an SLO off.
#[test]
fn a_gate_selector_matching_no_step_is_refused_with_the_nearest_names() {
    let ws = Workspace::new();
    let text = format!(
        "name = \"typo\"\nenvironment = \"staging\"\n{GOOD_LOAD}[mix]\npos_order_sync = 1\n[gate.latency.\"pos_ordre_sync/*\"]\np95 = {{ fail = 500 }}\n[gate.errors.\"*\"]\nrate = {{ fail = 0.01 }}\n[gate.errors.\"pos_order_sync/sync\"]\nrate = {{ fail = 0.01 }}\n"
    );
    let p = ws.profile("typo", &text);
    // Located at the selector as written: file:line:col, like every other profile error.
    let line = text.lines().position(|l| l.contains("pos_ordre")).unwrap() + 2;
    refused(
        &p,
        &[
            &format!("typo.toml:{line}:15: gate.latency.\"pos_ordre_sync/*\" matches no step"),
            "`pos_order_sync",
        ],
    );
    let fixed = text.replace("pos_ordre_sync", "pos_order_sync");
    let line = fixed
        .lines()
        .position(|l| l.contains("sync/sync\""))
        .unwrap()
        + 2;
    let p = ws.profile("typo2", &fixed);
    refused(
        &p,
        &[&format!(
            "typo2.toml:{line}:14: gate.errors.\"pos_order_sync/sync\" matches no step"
        )],
    );
    // A step of another Odoo version the scenario serves is no typo: a version-agnostic
    // profile may gate Odoo 18's `sync_from_ui` and 17's `create_from_ui` side by side.
    for version in ["17.0", "18.0"] {
        let p = ws.profile(
            &format!("both-{version}"),
            &format!("name = \"both\"\nenvironment = \"staging\"\nodoo_version = \"{version}\"\n{GOOD_LOAD}[mix]\npos_order_sync = 1\n[gate.latency.\"pos_order_sync/sync_from_ui\"]\np95 = {{ fail = 500 }}\n[gate.latency.\"pos_order_sync/create_from_ui\"]\np95 = {{ fail = 500 }}\n"),
        );
        peakgate().arg("check").arg(&p).assert().success();
    }
}

/// The host is judged as well as the label: a `--target` outside the hosts a profile may drive
/// is refused (exit 2) unless it is listed in `[target] allowed_hosts` or `--allow-production`
/// is given; loopback is always allowed.
#[test]
fn a_target_host_the_profile_does_not_name_is_refused() {
    let ws = Workspace::new();
    let bare = ws.profile(
        "bare",
        &format!(
            "name = \"bare\"\nenvironment = \"staging\"\n{GOOD_LOAD}[mix]\nproduct_search = 1\n"
        ),
    );
    let listed = ws.profile(
        "listed",
        &format!("name = \"listed\"\nenvironment = \"staging\"\n{GOOD_LOAD}[mix]\nproduct_search = 1\n[target]\nurl = \"https://erp.staging.example.com\"\nallowed_hosts = [\"*.staging.example.com\"]\n"),
    );
    let check = |p: &std::path::Path, target: &str, extra: &[&str]| {
        peakgate()
            .arg("check")
            .arg(p)
            .args(["--target", target])
            .args(extra)
            .env("ODOO_PASSWORD", "x")
            .assert()
    };
    check(&bare, "https://erp.example.com", &[])
        .code(2)
        .stderr(contains(
            "host `erp.example.com` is not one this profile may drive",
        ));
    check(&bare, "https://erp.example.com", &["--allow-production"]).success();
    check(&bare, "http://127.0.0.1:8069", &[]).success();
    check(&listed, "https://shop.staging.example.com", &[]).success();
    check(&listed, "https://erp.example.com", &[]).code(2);
}
