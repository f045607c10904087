//! The preflight: before any load, check what will be driven. Connect and read the version,
//! find the database, log in once. Each failure is one line naming the cause, and the run
//! stops there with exit 2: a configuration mistake is never judged as a failed release.

use serde_json::{Value, json};

use crate::odoo::{ErrorKind, Failure, OdooClient, RpcOutcome, ServerVersion, UserSession};
use crate::plan::{Credentials, SUPPORTED_MAJORS};

/// The database list route (filtered by the server's `dbfilter`).
const DATABASE_LIST: &str = "/web/database/list";

/// What the preflight learnt.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub version: ServerVersion,
    /// The database logged in to (given, or the one the server lists).
    pub database: Option<String>,
    /// The login's session (handed to the load's first journeys), when there is a login.
    pub session: Option<UserSession>,
}

/// Why the target cannot be driven, in one line.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} does not answer like Odoo ({path}: {message})")]
    NotOdoo {
        url: String,
        path: &'static str,
        message: String,
    },
    #[error(
        "the target runs Odoo {found}, which peakgate does not drive (it speaks Odoo {})",
        supported()
    )]
    Unsupported { found: String },
    #[error(
        "the profile is written for Odoo {declared} (`odoo_version`) but the target runs Odoo {found}; drive a {declared} server, or remove `odoo_version` to follow the target"
    )]
    VersionMismatch { declared: String, found: String },
    #[error("database {database:?} not found on {url} (the server lists: {listed})")]
    NoDatabase {
        database: String,
        url: String,
        listed: String,
    },
    #[error("no database given and {url} {why}: name it with --database or [target] database")]
    WhichDatabase { url: String, why: String },
    #[error(
        "authenticate: {name} for login {login:?} on database {database:?} (check the login and the password in {password_env})"
    )]
    Denied {
        name: String,
        login: String,
        database: String,
        password_env: String,
    },
    #[error("authenticate on {url}: {message}")]
    Login { url: String, message: String },
}

fn supported() -> String {
    SUPPORTED_MAJORS.map(|m| format!("{m}.0")).join(", ")
}

/// Checks the target: its version (against the profile's `declared` one), the database, and
/// the login (when `credentials` are given; `database: None` asks the server for it).
pub async fn check(
    client: &OdooClient,
    declared: Option<&str>,
    credentials: Option<&Credentials>,
    database: Option<&str>,
    password_env: &str,
) -> Result<Preflight, PreflightError> {
    let url = client.base().as_str().trim_end_matches('/').to_string();
    let has_path = !client.base().path().trim_matches('/').is_empty();
    let version = client.version().await.map_err(|f| match f.kind {
        ErrorKind::Tls if url.starts_with("https:") => PreflightError::Unreachable {
            url: url.clone(),
            message: format!(
                "{} (does the server speak plain HTTP? try http://)",
                f.message
            ),
        },
        ErrorKind::Connect | ErrorKind::Tls | ErrorKind::Reset | ErrorKind::Timeout => {
            PreflightError::Unreachable {
                url: url.clone(),
                message: f.message,
            }
        }
        _ if has_path => PreflightError::NotOdoo {
            url: url.clone(),
            path: crate::odoo::client::VERSION_PATH,
            message: format!(
                "{f}; give the server's base URL, without a path ({})",
                client.base().path()
            ),
        },
        _ => PreflightError::NotOdoo {
            url: url.clone(),
            path: crate::odoo::client::VERSION_PATH,
            message: f.to_string(),
        },
    })?;
    if !SUPPORTED_MAJORS.contains(&version.major.to_string().as_str()) {
        return Err(PreflightError::Unsupported {
            found: version.serie(),
        });
    }
    if let Some(d) = declared {
        let declared_major = d.split('.').next().unwrap_or(d);
        if declared_major != version.major.to_string() {
            return Err(PreflightError::VersionMismatch {
                declared: d.to_string(),
                found: version.serie(),
            });
        }
    }
    let Some(creds) = credentials else {
        return Ok(Preflight {
            version,
            database: database.map(str::to_string),
            session: None,
        });
    };
    let listed = list_databases(client).await;
    let database = match (database, &listed) {
        (Some(d), _) => d.to_string(),
        (None, Ok(dbs)) if dbs.len() == 1 => dbs[0].clone(),
        (None, Ok(dbs)) if dbs.is_empty() => {
            return Err(PreflightError::WhichDatabase {
                url,
                why: "lists no database".into(),
            });
        }
        (None, Ok(dbs)) => {
            return Err(PreflightError::WhichDatabase {
                url,
                why: format!("lists {}", dbs.join(", ")),
            });
        }
        (None, Err(why)) => {
            return Err(PreflightError::WhichDatabase {
                url,
                why: format!("does not list its databases ({why})"),
            });
        }
    };
    if let Ok(dbs) = &listed
        && !dbs.contains(&database)
    {
        return Err(PreflightError::NoDatabase {
            database,
            url,
            listed: if dbs.is_empty() {
                "none".into()
            } else {
                dbs.join(", ")
            },
        });
    }
    let session = client
        .authenticate(&database, &creds.login, creds.password.expose())
        .await
        .map_err(|f| login_error(f, &url, &database, &creds.login, password_env))?;
    Ok(Preflight {
        version,
        database: Some(database),
        session: Some(session),
    })
}

fn login_error(
    f: Failure,
    url: &str,
    database: &str,
    login: &str,
    password_env: &str,
) -> PreflightError {
    match &f.kind {
        // Odoo answers an unknown database with AccessError "Database not found." (its
        // dbfilter hides the others).
        ErrorKind::Rpc(_) if f.message.contains("Database not found") => {
            PreflightError::NoDatabase {
                database: database.to_string(),
                url: url.to_string(),
                listed: "(not listed)".into(),
            }
        }
        ErrorKind::Rpc(name) if name.ends_with("AccessDenied") => PreflightError::Denied {
            name: "AccessDenied".into(),
            login: login.to_string(),
            database: database.to_string(),
            password_env: password_env.to_string(),
        },
        ErrorKind::Connect | ErrorKind::Tls | ErrorKind::Reset | ErrorKind::Timeout => {
            PreflightError::Unreachable {
                url: url.to_string(),
                message: f.message,
            }
        }
        _ => PreflightError::Login {
            url: url.to_string(),
            message: f.to_string(),
        },
    }
}

/// The databases the server serves (its `dbfilter` applied), or why it does not say.
async fn list_databases(client: &OdooClient) -> Result<Vec<String>, String> {
    match client.rpc(DATABASE_LIST, &json!({}), 1, None).await.outcome {
        RpcOutcome::Result(Value::Array(dbs)) => Ok(dbs
            .iter()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect()),
        RpcOutcome::Result(other) => Err(format!("{DATABASE_LIST} answered {other}")),
        RpcOutcome::SessionExpired => Err(format!("{DATABASE_LIST} asked for a session")),
        RpcOutcome::Failed(f) => Err(match f.kind {
            ErrorKind::Rpc(n) if n.ends_with("AccessDenied") => {
                "the database list is disabled (list_db = False)".into()
            }
            _ => f.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odoo::transport::{HttpResponse, ScriptedTransport};
    use crate::odoo::wire;
    use crate::plan::Secret;
    use std::time::Duration;

    /// A scripted Odoo 17 with one database `odoo17_retail` and the login admin / admin.
    fn odoo(major: u32) -> OdooClient {
        let t = ScriptedTransport::new(move |req, _| {
            let body: Value = req
                .body
                .as_ref()
                .and_then(|(_, b)| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let p = &body["params"];
            Ok(match req.path.as_str() {
                "/web/webclient/version_info" => HttpResponse::json(&wire::result_body(
                    &json!(1),
                    ServerVersion::new(major, 0).info(),
                )),
                "/web/database/list" => {
                    HttpResponse::json(&wire::result_body(&json!(1), json!(["odoo17_retail"])))
                }
                "/web/session/authenticate" if p["db"] != "odoo17_retail" => {
                    HttpResponse::json(&wire::error_body(
                        &json!(1),
                        200,
                        "odoo.exceptions.AccessError",
                        "Database not found.",
                    ))
                }
                "/web/session/authenticate" if p["password"] != "admin" => {
                    HttpResponse::json(&wire::error_body(
                        &json!(1),
                        200,
                        "odoo.exceptions.AccessDenied",
                        "Access Denied",
                    ))
                }
                "/web/session/authenticate" => {
                    let mut r =
                        HttpResponse::json(&wire::result_body(&json!(1), json!({"uid": 2})));
                    r.session_cookie = Some("session_id=s1".into());
                    r
                }
                _ => HttpResponse::html(404, "not found"),
            })
        });
        OdooClient::new(
            t,
            url::Url::parse("http://127.0.0.1:8069").unwrap(),
            Duration::from_secs(5),
        )
    }

    fn creds(pw: &str) -> Credentials {
        Credentials {
            database: String::new(),
            login: "admin".into(),
            password: Secret::new(pw.into()),
        }
    }

    #[tokio::test]
    async fn the_only_listed_database_is_used_and_the_login_kept() {
        let p = check(
            &odoo(17),
            None,
            Some(&creds("admin")),
            None,
            "ODOO_PASSWORD",
        )
        .await
        .unwrap();
        assert_eq!(p.database.as_deref(), Some("odoo17_retail"));
        assert_eq!(p.version.serie(), "17.0");
        assert_eq!(p.session.unwrap().cookie, "session_id=s1");
    }

    #[tokio::test]
    async fn wrong_password_database_and_versions_each_say_why() {
        let e = check(&odoo(17), None, Some(&creds("nope")), None, "ODOO_PASSWORD")
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "authenticate: AccessDenied for login \"admin\" on database \"odoo17_retail\" (check the login and the password in ODOO_PASSWORD)"
        );
        let e = check(&odoo(17), None, Some(&creds("admin")), Some("retail"), "X")
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with("database \"retail\" not found"),
            "{e}"
        );
        let e = check(&odoo(19), None, None, None, "X").await.unwrap_err();
        assert!(
            e.to_string()
                .contains("Odoo 19.0, which peakgate does not drive"),
            "{e}"
        );
        let e = check(&odoo(18), Some("17.0"), None, None, "X")
            .await
            .unwrap_err();
        assert!(matches!(e, PreflightError::VersionMismatch { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_server_that_is_not_odoo_is_named_so() {
        let t = ScriptedTransport::new(|_, _| Ok(HttpResponse::html(404, "<html>nginx</html>")));
        let c = OdooClient::new(
            t,
            url::Url::parse("http://127.0.0.1:9").unwrap(),
            Duration::from_secs(1),
        );
        let e = check(&c, None, None, None, "X").await.unwrap_err();
        assert!(matches!(e, PreflightError::NotOdoo { .. }), "{e}");
        assert!(e.to_string().contains("HTTP 404"), "{e}");
    }
}
