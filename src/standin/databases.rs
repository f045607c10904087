//! Several databases on one stand-in, as on one Odoo server: each database has its own
//! records and sessions, and every request, whichever database it is for, waits for the same
//! workers, so one tenant's load slows its neighbours.
//!
//! A request finds its database as Odoo's `Request._get_session_and_dbname` does
//! (odoo/http.py): the database its session logged in to (`/web/session/authenticate`
//! takes `db`; `/jsonrpc` takes it as the first argument), else the only database when
//! there is one. With several and no session, Odoo has no database for the request (the
//! stand-in has no `dbfilter`): pages are not found and model calls find no session.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::config::StandinConfig;
use super::memory::Odoo;
use super::odoo::{Incoming, Reply, result};

/// The databases one stand-in hosts.
pub struct Databases {
    /// One memory Odoo per database, in the order given; the first answers requests that
    /// need no database.
    hosted: Vec<Odoo>,
    /// Session id → the database (index in `hosted`) the session belongs to.
    owners: Mutex<HashMap<String, usize>>,
}

impl Databases {
    /// Hosts `config.database` and `more` databases, each seeded with its own catalog.
    pub fn new(config: StandinConfig, more: &[String]) -> Self {
        let mut hosted = Vec::with_capacity(1 + more.len());
        for name in more {
            if *name == config.database {
                continue;
            }
            let mut c = config.clone();
            c.database = name.clone();
            hosted.push(Odoo::new(c));
        }
        hosted.insert(0, Odoo::new(config));
        Databases {
            hosted,
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// The server's configuration (the first database's name is `database`).
    pub fn config(&self) -> &StandinConfig {
        self.hosted[0].config()
    }

    /// The names of the databases hosted, in order.
    pub fn names(&self) -> Vec<String> {
        self.hosted
            .iter()
            .map(|o| o.config().database.clone())
            .collect()
    }

    fn index_of(&self, db: &str) -> Option<usize> {
        self.hosted.iter().position(|o| o.config().database == db)
    }

    fn owner(&self, sid: Option<&str>) -> Option<usize> {
        let owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        sid.and_then(|s| owners.get(s).copied())
    }

    /// Answers a request coming with `sid`, from the database it belongs to.
    pub fn answer(&self, req: &Incoming, sid: Option<&str>) -> Reply {
        if self.hosted.len() == 1 {
            return self.hosted[0].answer(req, sid);
        }
        let named = |v: Option<&Value>| v.and_then(Value::as_str).and_then(|d| self.index_of(d));
        let chosen = match req {
            Incoming::Rpc { path, id, .. } if path == "/web/database/list" => {
                return result(id, json!(self.names()));
            }
            // A database that is not hosted: the first one answers "Database not found.", as
            // its own name differs from the one asked for.
            Incoming::Rpc { path, params, .. } if path == "/web/session/authenticate" => {
                Some(named(params.get("db")).unwrap_or(0))
            }
            Incoming::Rpc { path, params, .. } if path == "/jsonrpc" => {
                Some(named(params.pointer("/args/0")).unwrap_or(0))
            }
            Incoming::Rpc { path, .. } if path == "/web/webclient/version_info" => Some(0),
            _ => self.owner(sid),
        };
        let Some(i) = chosen else {
            return match req {
                // No database: website routes do not exist.
                Incoming::Page { .. } | Incoming::Form { .. } => super::shop::not_found(),
                // No session in any database: the first answers "Session Expired".
                _ => self.hosted[0].answer(req, None),
            };
        };
        let reply = self.hosted[i].answer(req, sid);
        if let Some(s) = &reply.set_session {
            self.owners
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(s.clone(), i);
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(path: &str, params: Value) -> Incoming {
        Incoming::Rpc {
            path: path.into(),
            id: json!(1),
            params,
        }
    }

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn login(d: &Databases, db: &str) -> Reply {
        let c = d.config().clone();
        d.answer(
            &rpc(
                "/web/session/authenticate",
                json!({"db": db, "login": c.login, "password": c.password}),
            ),
            None,
        )
    }

    fn two() -> Databases {
        let config = StandinConfig::load(None, None, None).unwrap();
        Databases::new(config, &["store_a".into(), "store_b".into()])
    }

    #[test]
    fn each_session_is_served_by_the_database_it_logged_in_to() {
        let d = two();
        let names = d.names();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(&names[1..], ["store_a", "store_b"]);
        let list = d.answer(&rpc("/web/database/list", json!({})), None);
        assert_eq!(body(&list)["result"], json!(names));
        let a = login(&d, "store_a");
        assert_eq!(body(&a)["result"]["db"], "store_a");
        let b = login(&d, "store_b");
        assert_eq!(body(&b)["result"]["db"], "store_b");
        // A sale created in store_a is a record of store_a only.
        let create = |sid: &str| {
            d.answer(
                &rpc(
                    "/web/dataset/call_kw",
                    json!({"model": "sale.order", "method": "search_count", "args": [[]], "kwargs": {}}),
                ),
                Some(sid),
            )
        };
        let sa = a.set_session.clone().unwrap();
        let sb = b.set_session.clone().unwrap();
        let before_b = body(&create(&sb))["result"].clone();
        d.answer(
            &rpc(
                "/web/dataset/call_kw",
                json!({"model": "sale.order", "method": "create", "args": [{"partner_id": 7}], "kwargs": {}}),
            ),
            Some(&sa),
        );
        assert_eq!(body(&create(&sb))["result"], before_b);
        assert_ne!(body(&create(&sa))["result"], before_b);
    }

    #[test]
    fn a_database_not_hosted_is_not_found_and_anonymous_pages_have_no_database() {
        let d = two();
        let r = login(&d, "store_c");
        assert_eq!(
            body(&r)["error"]["data"]["message"],
            "Database not found.",
            "{}",
            body(&r)
        );
        let page = d.answer(
            &Incoming::Page {
                path: "/shop".into(),
                query: String::new(),
            },
            None,
        );
        assert_eq!(page.status, 404);
    }
}
