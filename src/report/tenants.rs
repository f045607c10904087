//! The artifacts of a multi-tenant run's folder, beside each tenant's own: `tenants.json`
//! (the index), `verdict.json` (the overall verdict: one check per tenant, and the
//! noisy-neighbour checks), `junit.xml` (a suite per tenant with its gate's checks, and one
//! for the overall checks) and `summary.md`.

use std::io::Write;
use std::path::Path;

use quick_junit::{Report, TestSuite};

use super::junit::case;

use crate::result::tenants::{TENANTS_FILE, TenantsIndex};
use crate::result::{Verdict, write_atomic};
use crate::verdict::fmt_num;
use crate::verdict::neighbour;

/// Writes `tenants.json`, `verdict.json`, `junit.xml` and `summary.md` into `dir`;
/// `per_tenant` holds each tenant's own verdict, in `index.tenants` order.
pub fn write_all(
    dir: &Path,
    index: &TenantsIndex,
    overall: &Verdict,
    per_tenant: &[Verdict],
) -> std::io::Result<()> {
    write_atomic(&dir.join(TENANTS_FILE), &pretty(index)?)?;
    write_atomic(&dir.join("verdict.json"), &pretty(overall)?)?;
    let mut buf = Vec::new();
    junit(index, overall, per_tenant, &mut buf)?;
    write_atomic(&dir.join("junit.xml"), &buf)?;
    let mut buf = Vec::new();
    summary(index, overall, &mut buf)?;
    write_atomic(&dir.join("summary.md"), &buf)
}

/// Pretty JSON with a final newline, as every JSON artifact is written.
fn pretty(value: &impl serde::Serialize) -> std::io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(value)?;
    out.push(b'\n');
    Ok(out)
}

/// A suite per tenant (`peakgate gate: <profile> tenant <name>`) and one for the overall
/// checks (`peakgate gate: <profile> tenants`).
fn junit(
    index: &TenantsIndex,
    overall: &Verdict,
    per_tenant: &[Verdict],
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut report = Report::new(format!("peakgate {}", index.run_id));
    for (t, v) in index.tenants.iter().zip(per_tenant) {
        let mut suite = TestSuite::new(format!(
            "peakgate gate: {} tenant {}",
            index.profile, t.name
        ));
        let class = format!("peakgate.{}.{}", index.profile, t.name);
        for c in &v.checks {
            suite.add_test_case(case(c, &class));
        }
        report.add_test_suite(suite);
    }
    let mut suite = TestSuite::new(format!("peakgate gate: {} tenants", index.profile));
    let class = format!("peakgate.{}", index.profile);
    for c in &overall.checks {
        suite.add_test_case(case(c, &class));
    }
    report.add_test_suite(suite);
    report
        .serialize(&mut *out)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

fn summary(index: &TenantsIndex, overall: &Verdict, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "# peakgate verdict: **{}**\n",
        overall.verdict.to_string().to_uppercase()
    )?;
    writeln!(
        out,
        "Release `{}`, profile `{}`, multi-tenant run `{}` ({}), {} tenants.\n",
        index.release.as_deref().unwrap_or("(unlabelled)"),
        index.profile,
        index.run_id,
        index.status,
        index.tenants.len()
    )?;
    writeln!(
        out,
        "| tenant | database | load | verdict | requests | errors | not passed |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for t in &index.tenants {
        let load = match t.load {
            crate::plan::tenants::TenantLoad::Share(x) => format!("share ×{}", fmt_num(x)),
            crate::plan::tenants::TenantLoad::Steady(x) => format!("steady {}", fmt_num(x)),
        };
        writeln!(
            out,
            "| [{}]({}/summary.md) | `{}` | {load} | {} | {} | {} | {} |",
            t.name,
            t.dir,
            t.database,
            t.verdict,
            t.requests,
            t.errors,
            if t.not_passed.is_empty() {
                "—".to_string()
            } else {
                t.not_passed.join(", ")
            }
        )?;
    }
    if let Some(e) = &index.noisy_neighbour {
        writeln!(out, "\n## Noisy neighbour\n")?;
        writeln!(out, "{}.\n", neighbour::describe(e))?;
        for c in overall
            .checks
            .iter()
            .filter(|c| c.name.starts_with(neighbour::NAME))
        {
            writeln!(out, "- **{}** {}: {}", c.status, c.name, c.message)?;
        }
    }
    Ok(())
}
