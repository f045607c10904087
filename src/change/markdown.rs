//! `change-record.md`: the change record for a change request, pasteable as it is (plain
//! headings, tables, quotes and links, as GitHub and GitLab render them). Same content as
//! `change-record.json`; every link is relative to the record's folder.

use std::io::Write;

use crate::result::Status;
use crate::result::change_record::{ChangeRecord, FreezeWindow};
use crate::verdict::fmt_num;

/// Writes the record as markdown.
pub fn write(r: &ChangeRecord, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "# Change record: {} — **{}**\n",
        cell(&r.release),
        upper(r.verdict)
    )?;
    let types: Vec<String> = r
        .types
        .iter()
        .map(|t| format!("{} ({})", t.kind, t.class))
        .collect();
    writeln!(out, "| | |\n|---|---|")?;
    writeln!(out, "| Release | {} |", cell(&r.release))?;
    writeln!(out, "| Risk class | **{}** |", r.risk_class)?;
    writeln!(out, "| Change types | {} |", cell(&types.join(", ")))?;
    writeln!(
        out,
        "| Planned | {} (UTC {}) |",
        cell(&r.planned.at),
        r.planned.utc
    )?;
    writeln!(out, "| Scope | {} |", cell(&scope(r)))?;
    let inputs = [
        ("Policy", Some(&r.inputs.policy)),
        ("Change file", Some(&r.inputs.change)),
    ];
    for (label, file) in inputs
        .into_iter()
        .chain([("Calendar", r.inputs.calendar.as_ref())])
    {
        if let Some(f) = file {
            writeln!(
                out,
                "| {label} | [{}]({}) {} |",
                cell(file_name(&f.path)),
                link(&f.path),
                cell(&f.describe())
            )?;
        }
    }
    writeln!(out, "| Verdict | **{}** |", upper(r.verdict))?;
    writeln!(out, "| peakgate | {} |\n", r.peakgate_version)?;

    writeln!(out, "## Checks\n")?;
    writeln!(out, "| Check | Status | Evidence |\n|---|---|---|")?;
    for c in &r.checks {
        writeln!(
            out,
            "| {} | {} | {} |",
            cell(&c.name),
            upper(c.status),
            cell(&c.message)
        )?;
    }

    writeln!(out, "\n## Calendar: {}\n", upper(r.calendar.status))?;
    writeln!(out, "{}\n", cell(&r.calendar.message))?;
    if let Some(reason) = &r.calendar.emergency {
        writeln!(out, "Emergency, as its reason was given:\n")?;
        quote(out, reason)?;
    }
    // The windows that decide (those holding the change) and the next ones; the rest of the
    // calendar is in change-record.json.
    let shown: Vec<(&FreezeWindow, &str)> = r
        .calendar
        .frozen_by
        .iter()
        .map(|w| (w, "**holds the change**"))
        .chain(r.calendar.upcoming.iter().map(|w| (w, "next")))
        .collect();
    if !shown.is_empty() {
        writeln!(
            out,
            "| Event | Kind | Freeze window | Rule | Scope | |\n|---|---|---|---|---|---|"
        )?;
        for (w, what) in &shown {
            writeln!(
                out,
                "| {} | {} | {} – {} | {} | {} | {what} |",
                cell(&w.event),
                w.kind,
                w.start,
                w.end,
                cell(&w.rule),
                cell(&w.scope_note),
            )?;
        }
        writeln!(out)?;
    }
    if !r.calendar.windows.is_empty() {
        writeln!(
            out,
            "Every window of class {} ({}) is in change-record.json.\n",
            r.risk_class,
            r.calendar.windows.len()
        )?;
    }

    writeln!(out, "## Load verdicts\n")?;
    if r.loads.is_empty() {
        writeln!(out, "No run was given, and the class requires none.\n")?;
    } else {
        writeln!(
            out,
            "| Profile | Required | Run | Release | Verdict | Headroom | Baseline |\n|---|---|---|---|---|---|---|"
        )?;
        for l in &r.loads {
            let run = match (&l.run_id, &l.dir) {
                (Some(id), Some(dir)) => format!("[{}]({})", cell(id), link(dir)),
                _ => "**missing**".into(),
            };
            let baseline = l.baseline.as_ref().map_or("—".to_string(), |b| {
                format!(
                    "{} ({})",
                    cell(&b.run_id),
                    cell(b.release.as_deref().unwrap_or("unlabelled"))
                )
            });
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&l.profile),
                if l.required { "yes" } else { "no" },
                run,
                cell(l.release.as_deref().unwrap_or("—")),
                upper(l.verdict),
                l.headroom
                    .map_or("—".into(), |h| format!("×{}", fmt_num(h))),
                baseline
            )?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Rollback readiness\n")?;
    match &r.rollback.plan {
        Some(plan) => {
            writeln!(out, "Plan:\n")?;
            quote(out, plan)?;
        }
        None if r.rollback.plan_required => writeln!(
            out,
            "Plan: **missing** (required for class {})\n",
            r.risk_class
        )?,
        None => writeln!(
            out,
            "Plan: none stated (not required for class {})\n",
            r.risk_class
        )?,
    }
    if r.rollback.baselines.is_empty() {
        writeln!(
            out,
            "Accepted baseline: none (no run was compared with one)\n"
        )?;
    } else {
        for b in &r.rollback.baselines {
            writeln!(
                out,
                "- {}: run {} was compared with the accepted run {} of release {}",
                cell(&b.profile),
                cell(&b.run_id),
                cell(&b.baseline.run_id),
                cell(b.baseline.release.as_deref().unwrap_or("(unlabelled)"))
            )?;
        }
        writeln!(out)?;
    }

    if !r.preflight.is_empty() {
        writeln!(out, "## Pre-flight\n")?;
        for name in &r.preflight {
            // A check may judge several rules: `preflight config_review workers`, ...
            let own = format!("preflight {name}");
            let mine: Vec<_> = r
                .checks
                .iter()
                .filter(|c| c.name == own || c.name.starts_with(&format!("{own} ")))
                .collect();
            if mine.is_empty() {
                writeln!(out, "- {}", cell(name))?;
            }
            for c in mine {
                let what = c.name.strip_prefix("preflight ").unwrap_or(&c.name);
                writeln!(
                    out,
                    "- {}: {} — {}",
                    cell(what),
                    upper(c.status),
                    cell(&c.message)
                )?;
            }
        }
        writeln!(out)?;
    }

    writeln!(out, "## Artifacts\n")?;
    writeln!(out, "- [change-record.json](change-record.json)")?;
    for l in &r.loads {
        if let Some(id) = &l.run_id {
            let files: Vec<String> = l
                .artifacts
                .iter()
                .map(|a| {
                    let name = a.rsplit_once(&format!("{id}/")).map_or(a.as_str(), |x| x.1);
                    format!("[{}]({})", cell(name), link(a))
                })
                .collect();
            writeln!(out, "- {}: {}", cell(id), files.join(", "))?;
        }
    }
    Ok(())
}

fn upper(s: Status) -> String {
    s.to_string().to_uppercase()
}

fn scope(r: &ChangeRecord) -> String {
    let s = &r.scope;
    if s.stores.is_empty() && s.regions.is_empty() {
        return "every store".into();
    }
    let mut parts = Vec::new();
    if !s.stores.is_empty() {
        parts.push(format!("stores {}", s.stores.join(", ")));
    }
    if !s.regions.is_empty() {
        parts.push(format!("regions {}", s.regions.join(", ")));
    }
    parts.join("; ")
}

/// The last part of a link, shown as its text.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Free text a person wrote (a reason, a plan), as a block quote: every line stays inside
/// it, so a line starting with `#`, `-` or `|` cannot become a heading, a list or a table
/// of the record, and `<` cannot open HTML.
fn quote(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    for line in text.trim_end().lines() {
        writeln!(out, "> {}", line.replace('<', "&lt;"))?;
    }
    writeln!(out)
}

/// Text in a table cell: a `|` would end the cell, a newline the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A link target: spaces and parentheses would end it.
fn link(path: &str) -> String {
    path.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}
