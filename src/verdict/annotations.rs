//! The `annotations grafana` check: whether the run's region reached Grafana, from the
//! stored `annotations.json`. A failed annotation warns; it never fails a release.

use crate::result::{Annotations, Check, OutcomeStatus, Status, Verdict};

/// The check's name in verdict.json and junit.xml.
pub const NAME: &str = "annotations grafana";

/// Pass when the region was posted and patched with the verdict; warn otherwise, saying
/// which request failed and why.
pub fn evaluate(a: &Annotations) -> Check {
    let g = &a.grafana;
    let (status, message) = match (g.start.status, g.end.status) {
        (OutcomeStatus::Ok, OutcomeStatus::Ok) => (
            Status::Pass,
            format!(
                "annotation {} on {} covers the load and carries the verdict",
                g.id.map_or_else(|| "(no id)".to_string(), |id| id.to_string()),
                g.url
            ),
        ),
        (OutcomeStatus::Ok, _) => (
            Status::Warn,
            format!(
                "the annotation was posted but not updated with the verdict, so it still ends at the planned end: {}",
                g.end.message
            ),
        ),
        _ => (
            Status::Warn,
            format!(
                "no annotation marks this run on Grafana: {}",
                g.start.message
            ),
        ),
    };
    Check {
        name: NAME.into(),
        status,
        observed: None,
        warn: None,
        fail: None,
        message,
    }
}

/// Adds the check to `v`, last, and lets it count in the verdict.
pub fn add(v: &mut Verdict, a: &Annotations) {
    let check = evaluate(a);
    v.verdict = v.verdict.max(check.status);
    v.checks.push(check);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{GrafanaAnnotation, Outcome};

    fn record(start: Outcome, end: Outcome) -> Annotations {
        Annotations {
            schema: "peakgate.annotations/1".into(),
            grafana: GrafanaAnnotation {
                url: "http://grafana:3000".into(),
                id: Some(17),
                time_ms: 1,
                time_end_ms: 2,
                tags: vec![],
                start,
                end,
            },
        }
    }

    #[test]
    fn a_failed_request_warns_and_says_which_and_why() {
        let ok = Outcome::ok(200, "Annotation added");
        let c = evaluate(&record(ok.clone(), Outcome::ok(200, "Annotation patched")));
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.message.contains("annotation 17 on http://grafana:3000"),
            "{}",
            c.message
        );

        let c = evaluate(&record(
            ok,
            Outcome::failed(
                Some(500),
                "PATCH http://grafana:3000/api/annotations/17: HTTP 500: boom",
            ),
        ));
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.message.contains("not updated with the verdict")
                && c.message.ends_with("HTTP 500: boom"),
            "{}",
            c.message
        );

        let c = evaluate(&record(
            Outcome::failed(
                None,
                "POST http://grafana:3000/api/annotations: Connection refused",
            ),
            Outcome::skipped("the start request failed"),
        ));
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.message
                .starts_with("no annotation marks this run on Grafana: POST"),
            "{}",
            c.message
        );
    }
}
