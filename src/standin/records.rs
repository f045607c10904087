//! The stand-in's records, kept like Odoo's ORM keeps them: one table per model, each with the
//! fields the model has (asking for another is Odoo's "Invalid field" error), searched with
//! Odoo's domains and read field by field. Many2one values are `[id, display name]`, x2many
//! values lists of ids, and an unset value is `false`, as Odoo answers them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

/// A record: field name → value.
pub type Rec = Map<String, Value>;

/// An error Odoo raises, as it names it on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub name: &'static str,
    pub message: String,
}

impl Fault {
    pub fn user(message: impl Into<String>) -> Fault {
        Fault {
            name: "odoo.exceptions.UserError",
            message: message.into(),
        }
    }
    pub fn validation(message: impl Into<String>) -> Fault {
        Fault {
            name: "odoo.exceptions.ValidationError",
            message: message.into(),
        }
    }
    /// Python's `KeyError` on a dictionary key the method reads without a default.
    pub fn key(key: &str) -> Fault {
        Fault {
            name: "builtins.KeyError",
            message: key.to_string(),
        }
    }
    pub fn value(message: impl Into<String>) -> Fault {
        Fault {
            name: "builtins.ValueError",
            message: message.into(),
        }
    }
    pub fn invalid_field(model: &str, field: &str) -> Fault {
        Fault::value(format!("Invalid field '{field}' on model '{model}'"))
    }
    /// What Odoo says when a record read or written does not exist.
    pub fn missing(model: &str, ids: &[i64]) -> Fault {
        let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
        Fault {
            name: "odoo.exceptions.MissingError",
            message: format!(
                "Record does not exist or has been deleted.\n(Record: {model}({},), User: 2)",
                ids.join(", ")
            ),
        }
    }
}

/// One model's records.
#[derive(Debug, Default)]
pub struct Table {
    fields: Vec<&'static str>,
    /// Fields computed without a search method: a domain leaf on one is ignored.
    unsearchable: Vec<&'static str>,
    pub rows: BTreeMap<i64, Rec>,
    next: i64,
}

impl Table {
    pub fn has_field(&self, f: &str) -> bool {
        f == "id" || f == "display_name" || self.fields.contains(&f)
    }
}

/// Every model's records.
#[derive(Debug, Default)]
pub struct Store {
    tables: HashMap<&'static str, Table>,
}

impl Store {
    /// Declares `model` with its fields; its ids start after `first_id - 1`.
    pub fn declare(&mut self, model: &'static str, fields: &[&'static str], first_id: i64) {
        self.tables.insert(
            model,
            Table {
                fields: fields.to_vec(),
                unsearchable: Vec::new(),
                rows: BTreeMap::new(),
                next: first_id,
            },
        );
    }

    /// Marks fields of `model` as computed without a search method (`lst_price` of
    /// `product.product`). A real Odoo logs "Non-stored field ... cannot be searched." and
    /// replaces such a leaf with a true one (`odoo/osv/expression.py`, 17 and 18): the condition
    /// is ignored, not refused.
    pub fn unsearchable(&mut self, model: &str, fields: &[&'static str]) {
        if let Ok(t) = self.table_mut(model) {
            t.unsearchable.extend_from_slice(fields);
        }
    }

    pub fn table(&self, model: &str) -> Result<&Table, Fault> {
        self.tables.get(model).ok_or_else(|| Fault {
            name: "builtins.KeyError",
            message: model.to_string(),
        })
    }

    fn table_mut(&mut self, model: &str) -> Result<&mut Table, Fault> {
        self.tables.get_mut(model).ok_or_else(|| Fault::key(model))
    }

    /// Adds a record with the next id.
    pub fn create(&mut self, model: &str, mut rec: Rec) -> Result<i64, Fault> {
        let t = self.table_mut(model)?;
        let id = t.next;
        t.next += 1;
        rec.insert("id".into(), json!(id));
        t.rows.insert(id, rec);
        Ok(id)
    }

    /// Adds a record with a given id (seeding).
    pub fn insert(&mut self, model: &str, id: i64, mut rec: Rec) {
        if let Ok(t) = self.table_mut(model) {
            rec.insert("id".into(), json!(id));
            t.rows.insert(id, rec);
            t.next = t.next.max(id + 1);
        }
    }

    pub fn get(&self, model: &str, id: i64) -> Result<&Rec, Fault> {
        self.table(model)?
            .rows
            .get(&id)
            .ok_or_else(|| Fault::missing(model, &[id]))
    }

    pub fn get_mut(&mut self, model: &str, id: i64) -> Result<&mut Rec, Fault> {
        self.table_mut(model)?
            .rows
            .get_mut(&id)
            .ok_or_else(|| Fault::missing(model, &[id]))
    }

    /// Writes `vals` on record `id`.
    pub fn write(&mut self, model: &str, id: i64, vals: &[(&str, Value)]) -> Result<(), Fault> {
        let r = self.get_mut(model, id)?;
        for (k, v) in vals {
            r.insert((*k).to_string(), v.clone());
        }
        Ok(())
    }

    /// The ids matching `domain`, in id order, at most `limit`.
    pub fn search(
        &self,
        model: &str,
        domain: &Value,
        limit: Option<usize>,
    ) -> Result<Vec<i64>, Fault> {
        let t = self.table(model)?;
        let terms = domain.as_array().cloned().unwrap_or_default();
        let expr = Expr::parse(model, t, &terms)?;
        Ok(t.rows
            .iter()
            .filter(|(_, r)| expr.as_ref().is_none_or(|e| e.eval(r)))
            .map(|(id, _)| *id)
            .take(limit.unwrap_or(usize::MAX))
            .collect())
    }

    /// Checks that every field asked for exists.
    pub fn check_fields(&self, model: &str, fields: &[String]) -> Result<(), Fault> {
        let t = self.table(model)?;
        match fields.iter().find(|f| !t.has_field(f)) {
            Some(f) => Err(Fault::invalid_field(model, f)),
            None => Ok(()),
        }
    }

    /// `read(ids, fields)`: every id must exist; no fields means all of them.
    pub fn read(&self, model: &str, ids: &[i64], fields: &[String]) -> Result<Vec<Value>, Fault> {
        self.check_fields(model, fields)?;
        let t = self.table(model)?;
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !t.rows.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(Fault::missing(model, &missing));
        }
        let all: Vec<String>;
        let fields = if fields.is_empty() {
            all = t.fields.iter().map(|f| f.to_string()).collect();
            &all
        } else {
            fields
        };
        Ok(ids
            .iter()
            .map(|id| {
                let r = &t.rows[id];
                let mut out = Map::new();
                out.insert("id".into(), json!(id));
                for f in fields {
                    if f != "id" {
                        out.insert(f.clone(), r.get(f).cloned().unwrap_or(json!(false)));
                    }
                }
                Value::Object(out)
            })
            .collect())
    }
}

/// A parsed domain: Odoo's prefix notation (`&`, `|`, `!`) over `[field, operator, value]`
/// leaves, the top level joined by `&`.
enum Expr {
    Leaf(String, String, Value),
    /// A leaf Odoo ignores (a field it cannot search).
    True,
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    fn parse(model: &str, t: &Table, terms: &[Value]) -> Result<Option<Expr>, Fault> {
        let mut pos = 0;
        let mut parts = Vec::new();
        while pos < terms.len() {
            parts.push(Self::one(model, t, terms, &mut pos)?);
        }
        Ok(parts
            .into_iter()
            .reduce(|a, b| Expr::And(Box::new(a), Box::new(b))))
    }

    fn one(model: &str, t: &Table, terms: &[Value], pos: &mut usize) -> Result<Expr, Fault> {
        let term = terms
            .get(*pos)
            .ok_or_else(|| Fault::value("Domain is not normalized: missing operands"))?;
        *pos += 1;
        match term {
            Value::String(op) if op == "&" || op == "|" => {
                let a = Self::one(model, t, terms, pos)?;
                let b = Self::one(model, t, terms, pos)?;
                Ok(if op == "&" {
                    Expr::And(Box::new(a), Box::new(b))
                } else {
                    Expr::Or(Box::new(a), Box::new(b))
                })
            }
            Value::String(op) if op == "!" => {
                Ok(Expr::Not(Box::new(Self::one(model, t, terms, pos)?)))
            }
            Value::Array(leaf) if leaf.len() == 3 => {
                let field = leaf[0].as_str().unwrap_or("");
                if !t.has_field(field) {
                    return Err(Fault::invalid_field(model, field));
                }
                if t.unsearchable.contains(&field) {
                    return Ok(Expr::True);
                }
                Ok(Expr::Leaf(
                    field.to_string(),
                    leaf[1].as_str().unwrap_or("").to_string(),
                    leaf[2].clone(),
                ))
            }
            other => Err(Fault::value(format!("Invalid leaf {other}"))),
        }
    }

    fn eval(&self, r: &Rec) -> bool {
        match self {
            Expr::And(a, b) => a.eval(r) && b.eval(r),
            Expr::Or(a, b) => a.eval(r) || b.eval(r),
            Expr::Not(a) => !a.eval(r),
            Expr::True => true,
            Expr::Leaf(f, op, v) => leaf(r.get(f).unwrap_or(&Value::Bool(false)), op, v),
        }
    }
}

/// The id of a many2one value (`[id, name]`), or the value itself.
fn scalar(v: &Value) -> &Value {
    match v {
        Value::Array(a) if a.len() == 2 && a[0].is_i64() && a[1].is_string() => &a[0],
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Bool(false) | Value::Null) || v.as_array().is_some_and(Vec::is_empty)
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (x, Value::Bool(false)) => is_empty(x),
        (Value::Array(ids), y) if y.is_number() => ids.contains(y),
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => (p - q).abs() < 1e-9,
            _ => x == y,
        },
    }
}

fn leaf(value: &Value, op: &str, arg: &Value) -> bool {
    let v = scalar(value);
    let cmp = || match (v.as_f64(), arg.as_f64()) {
        (Some(p), Some(q)) => p.partial_cmp(&q),
        _ => match (v.as_str(), arg.as_str()) {
            (Some(p), Some(q)) => Some(p.cmp(q)),
            _ => None,
        },
    };
    use std::cmp::Ordering::*;
    match op {
        "=" => equal(v, arg),
        "!=" => !equal(v, arg),
        ">" => cmp() == Some(Greater),
        ">=" => matches!(cmp(), Some(Greater | Equal)),
        "<" => cmp() == Some(Less),
        "<=" => matches!(cmp(), Some(Less | Equal)),
        "in" => arg
            .as_array()
            .is_some_and(|list| list.iter().any(|x| equal(v, x))),
        "not in" => !arg
            .as_array()
            .is_some_and(|list| list.iter().any(|x| equal(v, x))),
        "ilike" | "like" | "=ilike" => {
            let hay = match value {
                Value::Array(a) if a.len() == 2 => a[1].as_str().unwrap_or(""),
                other => other.as_str().unwrap_or(""),
            };
            let needle = arg.as_str().unwrap_or("");
            if op == "like" {
                hay.contains(needle)
            } else {
                hay.to_lowercase().contains(&needle.to_lowercase())
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let mut s = Store::default();
        s.declare("res.partner", &["name", "active", "customer_rank"], 1);
        for (name, active, rank) in [("Anna", true, 2), ("Bram", false, 0), ("Chloé", true, 0)] {
            let rec = json!({"name": name, "active": active, "customer_rank": rank});
            s.create("res.partner", rec.as_object().cloned().unwrap())
                .unwrap();
        }
        s
    }

    #[test]
    fn domains_combine_in_prefix_notation() {
        let s = store();
        let d = json!([
            "|",
            ["customer_rank", ">", 0],
            ["name", "ilike", "chl"],
            ["active", "=", true]
        ]);
        assert_eq!(s.search("res.partner", &d, None).unwrap(), vec![1, 3]);
        let d = json!(["!", ["active", "=", true]]);
        assert_eq!(s.search("res.partner", &d, None).unwrap(), vec![2]);
        assert_eq!(
            s.search("res.partner", &json!([["id", "in", [2, 3]]]), Some(1))
                .unwrap(),
            vec![2]
        );
    }

    /// A real Odoo ignores a condition on a field it cannot search (it logs an error and
    /// matches every record), so a filter written on one filters nothing.
    #[test]
    fn a_leaf_on_an_unsearchable_field_is_ignored() {
        let mut s = store();
        s.unsearchable("res.partner", &["customer_rank"]);
        let d = json!([["customer_rank", ">", 0], ["active", "=", true]]);
        assert_eq!(s.search("res.partner", &d, None).unwrap(), vec![1, 3]);
        let d = json!(["!", ["customer_rank", ">", 0]]);
        assert_eq!(
            s.search("res.partner", &d, None).unwrap(),
            Vec::<i64>::new()
        );
    }

    #[test]
    fn unknown_fields_and_records_are_odoos_errors() {
        let s = store();
        let e = s
            .search("res.partner", &json!([["account_code", "=", "1"]]), None)
            .unwrap_err();
        assert_eq!(e.name, "builtins.ValueError");
        assert_eq!(
            e.message,
            "Invalid field 'account_code' on model 'res.partner'"
        );
        let e = s.read("res.partner", &[9], &[]).unwrap_err();
        assert_eq!(e.name, "odoo.exceptions.MissingError");
        assert!(e.message.contains("res.partner(9,)"), "{}", e.message);
    }
}
