//! The route a step's first request takes, as Odoo's request log names it (method and path
//! without the query): how the calibration finds a step's lines in the log.

use crate::plan::scenario::Call;
use crate::plan::template::{Part, Template};

/// The HTTP request a step starts with, as Odoo's log names it.
#[derive(Debug, Clone)]
pub struct StepRoute {
    pub method: &'static str,
    pub path: RoutePath,
    /// What it calls: two steps on one route read one law only when this is the same.
    pub calls: String,
}

#[derive(Debug, Clone)]
pub enum RoutePath {
    Exact(String),
    /// A templated path: its literal parts, anything without `?` for each placeholder.
    Pattern(regex::Regex),
}

impl RoutePath {
    pub fn same(&self, other: &RoutePath) -> bool {
        self.shown() == other.shown()
    }
    pub fn shown(&self) -> String {
        match self {
            RoutePath::Exact(p) => p.clone(),
            RoutePath::Pattern(re) => re.as_str().to_string(),
        }
    }
}

/// Routes whose log line does not say what was called: every `execute_kw` is `POST /jsonrpc`,
/// every button `POST /web/dataset/call_button`. Their lines mix whatever calls them (the
/// preflight and the POS sessions' buttons too), so no step reads them.
pub const UNNAMED: [&str; 2] = ["/jsonrpc", "/web/dataset/call_button"];

/// The route of a step's first request, or why its log lines cannot be told apart.
pub fn route_of(call: &Call) -> Result<StepRoute, String> {
    let placeholders = || "its path is only placeholders: no route to read".to_string();
    let (method, path, calls) = match call {
        Call::CallKw {
            path,
            model,
            method,
            ..
        } => (
            "POST",
            RoutePath::Exact(path.clone()),
            format!("{model}.{method}"),
        ),
        Call::ExecuteKw { .. } => ("POST", RoutePath::Exact(UNNAMED[0].into()), String::new()),
        Call::JsonRpc { path, .. } => {
            let p = path_of(path).ok_or_else(placeholders)?;
            ("POST", p.clone(), p.shown())
        }
        Call::Http { path, form } => {
            let p = path_of(path).ok_or_else(placeholders)?;
            let m = if form.is_some() { "POST" } else { "GET" };
            (m, p.clone(), p.shown())
        }
    };
    if let RoutePath::Exact(p) = &path
        && UNNAMED.contains(&p.as_str())
    {
        return Err(format!(
            "{method} {p}'s log line does not name the call it makes"
        ));
    }
    Ok(StepRoute {
        method,
        path,
        calls,
    })
}

/// A path template as a route: exact when literal, a pattern when it has literal text around
/// its placeholders, `None` when it is only placeholders. The query is not part of a route.
fn path_of(t: &Template) -> Option<RoutePath> {
    let strip = |p: &str| p.split_once('?').map_or(p, |(a, _)| a).to_string();
    match t {
        Template::Literal(serde_json::Value::String(s)) => Some(RoutePath::Exact(strip(s))),
        Template::Text(parts) => {
            let mut re = String::from("^");
            let mut literal = false;
            for part in parts {
                match part {
                    Part::Lit(l) => {
                        let l = l.split_once('?').map_or(l.as_str(), |(a, _)| a);
                        literal |= l.chars().any(|c| c != '/');
                        re.push_str(&regex::escape(l));
                        if part_has_query(part) {
                            break;
                        }
                    }
                    Part::Slot(_) => re.push_str("[^?]+"),
                }
            }
            re.push('$');
            if !literal {
                return None;
            }
            regex::Regex::new(&re).ok().map(RoutePath::Pattern)
        }
        _ => None,
    }
}

fn part_has_query(p: &Part) -> bool {
    matches!(p, Part::Lit(l) if l.contains('?'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::template::Ref;
    use serde_json::json;

    fn http(path: Template) -> Call {
        Call::Http { path, form: None }
    }

    #[test]
    fn literal_paths_are_exact_routes_without_their_query() {
        let r = route_of(&http(Template::Literal(json!("/shop?category=2")))).unwrap();
        assert_eq!((r.method, r.path.shown()), ("GET", "/shop".to_string()));
        let kw = route_of(&Call::CallKw {
            path: "/web/dataset/call_kw/res.partner/search_read".into(),
            model: "res.partner".into(),
            method: "search_read".into(),
            args: Template::Literal(json!([])),
            kwargs: Template::Literal(json!({})),
        })
        .unwrap();
        assert_eq!(
            (kw.method, kw.calls.as_str()),
            ("POST", "res.partner.search_read")
        );
    }

    #[test]
    fn routes_that_do_not_name_the_call_are_refused() {
        let execute = route_of(&Call::ExecuteKw {
            model: "res.partner".into(),
            method: "search_read".into(),
            args: Template::Literal(json!([])),
            kwargs: Template::Literal(json!({})),
        });
        assert_eq!(
            execute.unwrap_err(),
            "POST /jsonrpc's log line does not name the call it makes"
        );
        let button = route_of(&Call::CallKw {
            path: "/web/dataset/call_button".into(),
            model: "sale.order".into(),
            method: "action_confirm".into(),
            args: Template::Literal(json!([])),
            kwargs: Template::Literal(json!({})),
        });
        assert!(button.unwrap_err().contains("call_button's log line"));
    }

    #[test]
    fn templated_paths_are_patterns_and_bare_placeholders_are_none() {
        let slot = || {
            Part::Slot(Ref {
                slot: 3,
                text: 3,
                path: vec!["slug".into()],
            })
        };
        let t = Template::Text(vec![Part::Lit("/shop/".into()), slot()]);
        let RoutePath::Pattern(re) = route_of(&http(t)).unwrap().path else {
            panic!("a pattern")
        };
        assert!(re.is_match("/shop/desk-12") && !re.is_match("/web/health"));
        assert!(route_of(&http(Template::Text(vec![slot()]))).is_err());
        assert!(route_of(&http(Template::Text(vec![Part::Lit("/".into()), slot()]))).is_err());
    }
}
