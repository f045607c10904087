//! A small client for Grafana's annotations HTTP API (the `/api/annotations` routes):
//! `POST /api/annotations` creates a region and answers its `id`, `PATCH /api/annotations/:id`
//! changes its end, tags and text. Authenticated with a service account token as
//! `Authorization: Bearer`. Uses the connector every peakgate HTTP client shares.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::odoo::transport::{http_connector, is_tls, root_cause};
use crate::plan::Secret;

/// Largest answer read: Grafana's are a line of JSON.
const MAX_ANSWER: usize = 64 * 1024;

/// `POST /api/annotations`'s body, field names as Grafana documents them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAnnotation<'a> {
    #[serde(rename = "dashboardUID", skip_serializing_if = "Option::is_none")]
    pub dashboard_uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panel_id: Option<u64>,
    /// Start, epoch milliseconds.
    pub time: i64,
    /// End, epoch milliseconds (a region when it differs from `time`).
    pub time_end: i64,
    pub tags: &'a [String],
    pub text: &'a str,
}

/// `PATCH /api/annotations/:id`'s body: the fields that change.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchAnnotation<'a> {
    /// Start, epoch milliseconds.
    pub time: i64,
    /// End, epoch milliseconds.
    pub time_end: i64,
    pub tags: &'a [String],
    pub text: &'a str,
}

/// What Grafana answers: `{"message":"Annotation added","id":1}` to a POST,
/// `{"message":"Annotation patched"}` to a PATCH, `{"message":"..."}` to an error.
#[derive(Debug, Deserialize)]
struct Answer {
    message: Option<String>,
    id: Option<u64>,
}

/// Why an annotation request did not do its job; each message names the method and URL.
#[derive(Debug, thiserror::Error)]
pub enum GrafanaError {
    /// No answer in time (connecting included).
    #[error("{method} {url}: no answer within {}", humantime::format_duration(*timeout))]
    Timeout {
        method: &'static str,
        url: String,
        timeout: Duration,
    },
    /// The connection could not be made or broke (refused, DNS, TLS, reset).
    #[error("{method} {url}: {cause}")]
    Unreachable {
        method: &'static str,
        url: String,
        cause: String,
    },
    /// The request could not be built (a token no HTTP header can carry).
    #[error("{method} {url}: {why}")]
    Request {
        method: &'static str,
        url: String,
        why: String,
    },
    /// Grafana answered with another status than 200.
    #[error("{method} {url}: HTTP {status}: {message}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    /// Grafana answered 200 with something its API does not document.
    #[error("{method} {url}: HTTP 200, but {why}")]
    Answer {
        method: &'static str,
        url: String,
        why: String,
    },
}

impl GrafanaError {
    /// Grafana's HTTP status, when it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            GrafanaError::Status { status, .. } => Some(*status),
            GrafanaError::Answer { .. } => Some(200),
            _ => None,
        }
    }
}

/// What an answered request said: its status and Grafana's `message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub http_status: u16,
    pub message: String,
}

/// One Grafana, one token.
pub struct GrafanaClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Base URL without a trailing `/`.
    base: String,
    token: Secret,
    /// Longest one request may take, connecting included.
    timeout: Duration,
}

impl GrafanaClient {
    pub fn new(base: &str, token: Secret, timeout: Duration) -> GrafanaClient {
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(http_connector(timeout));
        GrafanaClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
            timeout,
        }
    }

    /// Creates the annotation; its id.
    pub async fn create(&self, body: &NewAnnotation<'_>) -> Result<(u64, Answered), GrafanaError> {
        let url = format!("{}/api/annotations", self.base);
        let (answer, answered) = self.send("POST", url.clone(), body).await?;
        match answer.id {
            Some(id) => Ok((id, answered)),
            None => Err(GrafanaError::Answer {
                method: "POST",
                url,
                why: "the answer has no numeric `id`".into(),
            }),
        }
    }

    /// Changes annotation `id`'s start, end, tags and text.
    pub async fn patch(
        &self,
        id: u64,
        body: &PatchAnnotation<'_>,
    ) -> Result<Answered, GrafanaError> {
        let url = format!("{}/api/annotations/{id}", self.base);
        Ok(self.send("PATCH", url, body).await?.1)
    }

    async fn send(
        &self,
        method: &'static str,
        url: String,
        body: &impl Serialize,
    ) -> Result<(Answer, Answered), GrafanaError> {
        match tokio::time::timeout(self.timeout, self.exchange(method, &url, body)).await {
            Ok(r) => r,
            Err(_) => Err(GrafanaError::Timeout {
                method,
                url,
                timeout: self.timeout,
            }),
        }
    }

    async fn exchange(
        &self,
        method: &'static str,
        url: &str,
        body: &impl Serialize,
    ) -> Result<(Answer, Answered), GrafanaError> {
        let unreachable = |cause: String| GrafanaError::Unreachable {
            method,
            url: url.to_string(),
            cause,
        };
        let bad_request = |why: String| GrafanaError::Request {
            method,
            url: url.to_string(),
            why,
        };
        let json = serde_json::to_vec(body).expect("annotation bodies serialize");
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .map_err(|_| bad_request("the token holds characters an HTTP header cannot".into()))?;
        auth.set_sensitive(true);
        let request = hyper::Request::builder()
            .method(method)
            .uri(url)
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::from(json)))
            .map_err(|e| bad_request(format!("bad request: {e}")))?;
        let resp = self.http.request(request).await.map_err(|e| {
            if is_tls(&e) {
                unreachable(format!("TLS: {}", root_cause(&e)))
            } else {
                unreachable(root_cause(&e))
            }
        })?;
        let status = resp.status().as_u16();
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| unreachable(format!("reading the answer: {e}")))?
            .to_bytes();
        let parsed: Result<Answer, _> = serde_json::from_slice(&bytes);
        if status != 200 {
            let message = match &parsed {
                Ok(Answer {
                    message: Some(m), ..
                }) => m.clone(),
                _ => String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    .trim()
                    .to_string(),
            };
            return Err(GrafanaError::Status {
                method,
                url: url.to_string(),
                status,
                message,
            });
        }
        let answer = parsed.map_err(|e| GrafanaError::Answer {
            method,
            url: url.to_string(),
            why: format!("the answer is not Grafana's JSON: {e}"),
        })?;
        let answered = Answered {
            http_status: status,
            message: answer.message.clone().unwrap_or_default(),
        };
        Ok((answer, answered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_use_grafanas_field_names_and_leave_out_what_is_not_set() {
        let tags = vec!["peakgate".to_string()];
        let post = NewAnnotation {
            dashboard_uid: Some("retail"),
            panel_id: Some(4),
            time: 1_000,
            time_end: 2_000,
            tags: &tags,
            text: "t",
        };
        assert_eq!(
            serde_json::to_value(&post).unwrap(),
            serde_json::json!({"dashboardUID": "retail", "panelId": 4, "time": 1000,
                "timeEnd": 2000, "tags": ["peakgate"], "text": "t"})
        );
        let org = NewAnnotation {
            dashboard_uid: None,
            panel_id: None,
            ..post
        };
        let v = serde_json::to_value(&org).unwrap();
        assert!(
            v.get("dashboardUID").is_none() && v.get("panelId").is_none(),
            "{v}"
        );
        let patch = PatchAnnotation {
            time: 1_000,
            time_end: 3_000,
            tags: &tags,
            text: "u",
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            serde_json::json!({"time": 1000, "timeEnd": 3000, "tags": ["peakgate"], "text": "u"})
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_an_unreachable_error_naming_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let c = GrafanaClient::new(&base, Secret::new("tok".into()), Duration::from_secs(2));
        let tags = vec![];
        let e = c
            .patch(
                7,
                &PatchAnnotation {
                    time: 0,
                    time_end: 1,
                    tags: &tags,
                    text: "",
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, GrafanaError::Unreachable { .. }), "{e:?}");
        assert_eq!(e.http_status(), None);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("PATCH {base}/api/annotations/7: ")),
            "{text}"
        );
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }
}
