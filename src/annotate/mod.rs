//! annotate: marks a run on the team's dashboards. Before the load a Grafana region is posted
//! from the start to the planned end; once the verdict is known it is patched to the actual
//! end, with the verdict in its tags and text. Takes the plan's [`GrafanaSpec`] and, at the
//! end, the verdict's status; produces the [`Annotations`] record (`annotations.json`) that
//! the verdict turns into a warning when a request failed. Never fails a run: every error
//! becomes an [`Outcome`], scrubbed of secrets.

pub mod grafana;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grafana::{GrafanaClient, NewAnnotation, PatchAnnotation};

use crate::plan::annotations::GrafanaSpec;
use crate::result::annotations::ANNOTATIONS_SCHEMA;
use crate::result::{Annotations, GrafanaAnnotation, Outcome, OutcomeStatus};
use crate::secrets::Scrubber;

/// What the region says about the run before it starts.
#[derive(Debug, Clone)]
pub struct Region<'a> {
    pub run_id: &'a str,
    pub profile: &'a str,
    pub release: Option<&'a str>,
    /// Where the load goes, as shown to a person (no credentials).
    pub target: &'a str,
    /// The load's planned length.
    pub planned: Duration,
}

/// A region posted (or not) at the start, to be finished once the verdict is known.
pub struct Started {
    client: Option<GrafanaClient>,
    record: GrafanaAnnotation,
    /// The first line of the region's text, repeated when it is patched.
    head: String,
}

impl Started {
    /// How the start request went.
    pub fn start(&self) -> &Outcome {
        &self.record.start
    }
}

/// Epoch milliseconds of `t`.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// peakgate's own tags and the profile's extra ones: `peakgate`, `profile:<p>`,
/// `release:<r>` (when there is one), `run:<id>`, then the extra tags.
pub fn tags(spec: &GrafanaSpec, region: &Region<'_>) -> Vec<String> {
    let mut t = vec![
        "peakgate".to_string(),
        format!("profile:{}", region.profile),
    ];
    if let Some(r) = region.release {
        t.push(format!("release:{r}"));
    }
    t.push(format!("run:{}", region.run_id));
    for extra in &spec.tags {
        if !t.contains(extra) {
            t.push(extra.clone());
        }
    }
    t
}

/// Posts the region from `now` to the planned end. A missing token sends nothing.
pub async fn start(
    spec: &GrafanaSpec,
    region: &Region<'_>,
    now: SystemTime,
    scrub: &Scrubber,
) -> Started {
    let time_ms = epoch_ms(now);
    let time_end_ms = time_ms + region.planned.as_millis() as i64;
    let tags = tags(spec, region);
    let head = format!(
        "peakgate run {} of profile {}, release {}, on {}",
        region.run_id,
        region.profile,
        region.release.unwrap_or("(none)"),
        region.target
    );
    let text = format!(
        "{head}: load running, {} planned",
        humantime::format_duration(region.planned)
    );
    let client = spec
        .token
        .as_ref()
        .map(|t| GrafanaClient::new(&spec.url, t.clone(), spec.timeout));
    let (id, outcome) = match &client {
        None => (
            None,
            Outcome::failed(
                None,
                format!(
                    "`{}` is not set: no annotation was posted to {} (set it to the token of a Grafana service account that may write annotations)",
                    spec.token_env, spec.url
                ),
            ),
        ),
        Some(c) => {
            let body = NewAnnotation {
                dashboard_uid: spec.dashboard_uid.as_deref(),
                panel_id: spec.panel_id,
                time: time_ms,
                time_end: time_end_ms,
                tags: &tags,
                text: &text,
            };
            match c.create(&body).await {
                Ok((id, a)) => (
                    Some(id),
                    Outcome::ok(a.http_status, scrub.scrub(&a.message)),
                ),
                Err(e) => (
                    None,
                    Outcome::failed(e.http_status(), scrub.scrub(&e.to_string())),
                ),
            }
        }
    };
    Started {
        client,
        record: GrafanaAnnotation {
            url: spec.url.clone(),
            id,
            time_ms,
            time_end_ms,
            tags,
            start: outcome,
            end: Outcome::skipped("not finished yet"),
        },
        head,
    }
}

/// How the run ended, for the region's last tag and its text.
#[derive(Debug, Clone)]
pub struct Ending {
    /// `pass`, `warn`, `fail`, `inconclusive`; `none` when the run stopped before a verdict.
    pub verdict: String,
    /// One line saying why (the verdict line, or what stopped the run).
    pub line: String,
}

/// Patches the region to end at `end` with the verdict, unless the start request failed.
/// `ending` is the verdict of the run's own checks: the annotation's check comes after it,
/// and passes when this request does.
pub async fn finish(
    started: Started,
    ending: &Ending,
    end: SystemTime,
    scrub: &Scrubber,
) -> Annotations {
    let Started {
        client,
        mut record,
        head,
    } = started;
    let end_ms = epoch_ms(end).max(record.time_ms);
    let text = format!("{head}: {}", ending.line);
    record.end = match (&client, record.id, record.start.status) {
        (Some(c), Some(id), OutcomeStatus::Ok) => {
            // Grafana replaces the tags with those sent: all of them, the verdict last.
            record.tags.push(format!("verdict:{}", ending.verdict));
            let body = PatchAnnotation {
                time: record.time_ms,
                time_end: end_ms,
                tags: &record.tags,
                text: &scrub.scrub(&text),
            };
            match c.patch(id, &body).await {
                Ok(a) => {
                    record.time_end_ms = end_ms;
                    Outcome::ok(a.http_status, scrub.scrub(&a.message))
                }
                Err(e) => Outcome::failed(e.http_status(), scrub.scrub(&e.to_string())),
            }
        }
        _ => Outcome::skipped("the start request failed: there is no annotation to patch"),
    };
    Annotations {
        schema: ANNOTATIONS_SCHEMA.into(),
        grafana: record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(token: Option<&str>) -> GrafanaSpec {
        GrafanaSpec {
            url: "http://127.0.0.1:9".into(),
            dashboard_uid: None,
            panel_id: None,
            tags: vec!["team:pos".into(), "peakgate".into()],
            token_env: "PEAKGATE_GRAFANA_TOKEN".into(),
            token: token.map(|t| crate::plan::Secret::new(t.into())),
            timeout: Duration::from_secs(1),
        }
    }

    fn region() -> Region<'static> {
        Region {
            run_id: "20261201T160000Z-smoke-ab12",
            profile: "smoke",
            release: Some("17.0.42"),
            target: "built-in stand-in (release baseline)",
            planned: Duration::from_secs(8),
        }
    }

    /// A server on 127.0.0.1:0 answering every request with `status` and `body`, in which
    /// `{auth}` becomes the Authorization header received (a server that echoes it). `None`:
    /// it accepts connections and never answers.
    async fn serve(answer: Option<(u16, &'static str)>) -> String {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let Some((status, body)) = answer else {
                    held.push(stream);
                    continue;
                };
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let text = body.replace("{auth}", &auth);
                        async move {
                            let mut r = hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from(text),
                            ));
                            *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        url
    }

    const TOKEN: &str = "glsa_unit_test_token_91ab";

    async fn start_against(url: String, timeout: Duration) -> Started {
        let mut spec = spec(Some(TOKEN));
        spec.url = url;
        spec.timeout = timeout;
        let scrub = Scrubber::new([TOKEN.to_string()]);
        start(&spec, &region(), SystemTime::now(), &scrub).await
    }

    #[tokio::test]
    async fn a_refusal_that_echoes_the_token_is_recorded_with_its_status_and_without_the_token() {
        let url = serve(Some((401, r#"{"message":"invalid API key: {auth}"}"#))).await;
        let s = start_against(url.clone(), Duration::from_secs(2)).await;
        let o = s.start();
        assert_eq!(o.status, OutcomeStatus::Failed);
        assert_eq!(o.http_status, Some(401));
        assert_eq!(
            o.message,
            format!("POST {url}/api/annotations: HTTP 401: invalid API key: Bearer ***")
        );
    }

    #[tokio::test]
    async fn a_200_that_is_not_grafanas_answer_fails() {
        let url = serve(Some((200, "<html>login</html>"))).await;
        let o = start_against(url, Duration::from_secs(2))
            .await
            .start()
            .clone();
        assert_eq!(
            (o.status, o.http_status),
            (OutcomeStatus::Failed, Some(200))
        );
        assert!(
            o.message
                .contains("HTTP 200, but the answer is not Grafana's JSON"),
            "{}",
            o.message
        );
        let url = serve(Some((200, r#"{"message":"Annotation added"}"#))).await;
        let o = start_against(url, Duration::from_secs(2))
            .await
            .start()
            .clone();
        assert!(
            o.message
                .ends_with("HTTP 200, but the answer has no numeric `id`"),
            "{}",
            o.message
        );
    }

    #[tokio::test]
    async fn a_grafana_that_never_answers_times_out() {
        let url = serve(None).await;
        let t0 = std::time::Instant::now();
        let o = start_against(url.clone(), Duration::from_millis(300))
            .await
            .start()
            .clone();
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert_eq!((o.status, o.http_status), (OutcomeStatus::Failed, None));
        assert_eq!(
            o.message,
            format!("POST {url}/api/annotations: no answer within 300ms")
        );
    }

    #[test]
    fn tags_name_the_run_then_the_extra_ones_once() {
        assert_eq!(
            tags(&spec(None), &region()),
            [
                "peakgate",
                "profile:smoke",
                "release:17.0.42",
                "run:20261201T160000Z-smoke-ab12",
                "team:pos"
            ]
        );
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent_and_both_ends_say_why() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let s = start(&spec(None), &region(), now, &Scrubber::default()).await;
        assert_eq!(s.start().status, OutcomeStatus::Failed);
        assert!(
            s.start()
                .message
                .contains("`PEAKGATE_GRAFANA_TOKEN` is not set")
        );
        let ending = Ending {
            verdict: "pass".into(),
            line: "verdict pass".into(),
        };
        let a = finish(
            s,
            &ending,
            now + Duration::from_secs(9),
            &Scrubber::default(),
        )
        .await;
        let g = &a.grafana;
        assert_eq!(g.end.status, OutcomeStatus::Skipped);
        assert_eq!(g.id, None);
        assert_eq!(
            (g.time_ms, g.time_end_ms),
            (1_700_000_000_000, 1_700_000_008_000)
        );
        // Nothing was sent: the record keeps the tags the region would have had.
        assert!(
            !g.tags.iter().any(|t| t.starts_with("verdict:")),
            "{:?}",
            g.tags
        );
        assert_eq!(g.tags.len(), 5);
    }
}
