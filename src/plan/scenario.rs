//! Scenarios compiled for the engine: steps with resolved templates, generators built,
//! every name checked before the run starts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::distr::weighted::WeightedIndex;
use serde_json::Value;

use super::generator::{Generator, PosOrderGen, RowPick};
use super::template::Template;
use crate::config::ConfigError;
use crate::config::data::DataTable;
use crate::config::scenario::{GeneratorFile, ScenarioSource, SessionKind, StepFile};

/// Slots every journey has before its own variables.
pub const BUILTINS: [&str; 3] = ["db", "login", "uid"];
pub const SLOT_DB: usize = 0;
pub const SLOT_LOGIN: usize = 1;
pub const SLOT_UID: usize = 2;
/// First slot of a scenario's own variables.
pub const FIRST_VAR_SLOT: usize = BUILTINS.len();

/// A compiled scenario.
#[derive(Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub session: SessionKind,
    /// Generators, filling slots `BUILTINS.len()..` in order.
    pub vars: Vec<(String, Generator)>,
    pub steps: Vec<Step>,
    /// Total number of value slots a journey needs.
    pub slots: usize,
    /// Whether a journey must log in first: a `user` session, or an `execute_kw` step that
    /// sends the password with the user id.
    pub needs_login: bool,
}

/// A compiled step.
#[derive(Debug)]
pub struct Step {
    /// Index into [`super::Plan::step_names`]: where its measurements go.
    pub id: usize,
    pub name: String,
    pub call: Call,
    /// Pause after the step.
    pub think: Duration,
    /// `(slot, JSON pointer into the result)` to keep.
    pub save: Vec<(usize, String)>,
    /// For pages: text that must appear in the body.
    pub expect_text: Option<String>,
}

/// What a step sends.
#[derive(Debug)]
pub enum Call {
    /// `/web/dataset/call_kw/<model>/<method>` with `{model, method, args, kwargs}`.
    CallKw {
        path: String,
        model: String,
        method: String,
        args: Template,
        kwargs: Template,
    },
    /// `/jsonrpc` `object.execute_kw(db, uid, password, model, method, args, kwargs)`.
    ExecuteKw {
        model: String,
        method: String,
        args: Template,
        kwargs: Template,
    },
    /// Any JSON-RPC route with `params`.
    JsonRpc { path: Template, params: Template },
    /// GET a page.
    Http { path: Template },
}

impl Call {
    /// Whether the call needs the target user's password.
    pub fn needs_password(&self) -> bool {
        matches!(self, Call::ExecuteKw { .. })
    }
}

/// Compiles one scenario; `next_step_id` numbers steps across the whole plan.
pub fn compile(
    src: &ScenarioSource,
    data_dir: &Path,
    tables: &mut HashMap<String, Arc<DataTable>>,
    next_step_id: &mut usize,
    odoo_major: &str,
) -> Result<Scenario, ConfigError> {
    let mut names: Vec<String> = BUILTINS.iter().map(|s| s.to_string()).collect();
    let mut vars = Vec::new();
    for (name, gen_file) in &src.file.vars {
        let generator = compile_generator(src, gen_file, data_dir, tables)?;
        names.push(name.clone());
        vars.push((name.clone(), generator));
    }
    if src.file.steps.is_empty() {
        return Err(ConfigError::key(
            &src.path,
            "step",
            "a scenario needs at least one [[step]]",
        ));
    }
    let mut steps = Vec::new();
    let runs_here = |step: &StepFile| {
        step.odoo
            .as_ref()
            .is_none_or(|v| v.iter().any(|m| m.split('.').next() == Some(odoo_major)))
    };
    for step in src.file.steps.iter().filter(|s| runs_here(s)) {
        if steps.iter().any(|s: &Step| &s.name == step.name.get_ref()) {
            return Err(src.error_at(
                &step.name,
                format!("step `{}` is defined twice", step.name.get_ref()),
            ));
        }
        let compiled = compile_step(src, step, &names, *next_step_id)?;
        *next_step_id += 1;
        // Saved values become visible to the steps after this one only.
        for var in step.save.keys() {
            if !names.contains(var) {
                names.push(var.clone());
            }
        }
        let save = step
            .save
            .iter()
            .map(|(var, pointer)| {
                (
                    names.iter().position(|n| n == var).unwrap_or(0),
                    pointer.clone(),
                )
            })
            .collect();
        steps.push(Step { save, ..compiled });
    }
    if steps.is_empty() {
        return Err(ConfigError::key(
            &src.path,
            "step",
            format!("no step runs on Odoo {odoo_major} (see each step's `odoo` list)"),
        ));
    }
    let needs_login = src.file.session == SessionKind::User
        || steps.iter().any(|s: &Step| s.call.needs_password());
    Ok(Scenario {
        needs_login,
        name: src.name.clone(),
        description: src.file.description.clone(),
        session: src.file.session,
        vars,
        steps,
        slots: names.len(),
    })
}

fn compile_step(
    src: &ScenarioSource,
    step: &StepFile,
    names: &[String],
    id: usize,
) -> Result<Step, ConfigError> {
    let here = |message: String| src.error_at(&step.name, message);
    let resolve = |n: &str| names.iter().position(|x| x == n);
    let template = |key: &str,
                    v: &Option<toml::Value>,
                    default: Value|
     -> Result<Template, ConfigError> {
        let json = match v {
            Some(v) => serde_json::to_value(v).map_err(|e| here(format!("`{key}`: {e}")))?,
            None => default,
        };
        Template::compile(&json, &resolve).map_err(|unknown| {
            here(format!(
                "`{key}` uses `{{{{{unknown}}}}}`, which is neither a var, a value saved by an earlier step, nor one of {BUILTINS:?}"
            ))
        })
    };
    let text =
        |key: &str, s: &str| template(key, &Some(toml::Value::String(s.to_string())), Value::Null);
    for pointer in step.save.values() {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(here(format!(
                "`save` pointer `{pointer}` must be empty or start with `/`"
            )));
        }
    }
    let kinds = [
        step.call_kw.is_some(),
        step.execute_kw.is_some(),
        step.jsonrpc.is_some(),
        step.http.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(here(format!(
            "step `{}` needs exactly one of `call_kw`, `execute_kw`, `jsonrpc`, `http`",
            step.name.get_ref()
        )));
    }
    let empty_args = Value::Array(vec![]);
    let empty_kwargs = Value::Object(Default::default());
    let call = if let Some(mm) = &step.call_kw {
        Call::CallKw {
            path: format!("/web/dataset/call_kw/{}/{}", mm.model, mm.method),
            model: mm.model.clone(),
            method: mm.method.clone(),
            args: template("args", &step.args, empty_args)?,
            kwargs: template("kwargs", &step.kwargs, empty_kwargs)?,
        }
    } else if let Some(mm) = &step.execute_kw {
        Call::ExecuteKw {
            model: mm.model.clone(),
            method: mm.method.clone(),
            args: template("args", &step.args, empty_args)?,
            kwargs: template("kwargs", &step.kwargs, empty_kwargs)?,
        }
    } else if let Some(path) = &step.jsonrpc {
        Call::JsonRpc {
            path: text("jsonrpc", path)?,
            params: template("params", &step.params, empty_kwargs)?,
        }
    } else {
        Call::Http {
            path: text("http", step.http.as_deref().unwrap_or("/"))?,
        }
    };
    let think = match &step.think {
        Some(t) => humantime::parse_duration(t.get_ref().trim()).map_err(|e| {
            src.error_at(
                t,
                format!("`think` = `{}` is not a duration: {e}", t.get_ref()),
            )
        })?,
        None => Duration::ZERO,
    };
    Ok(Step {
        id,
        name: step.name.get_ref().clone(),
        call,
        think,
        save: Vec::new(),
        expect_text: step.expect_text.clone(),
    })
}

fn compile_generator(
    src: &ScenarioSource,
    gen_file: &toml::Spanned<GeneratorFile>,
    data_dir: &Path,
    tables: &mut HashMap<String, Arc<DataTable>>,
) -> Result<Generator, ConfigError> {
    let err = |m: String| src.error_at(gen_file, m);
    let mut table = |file: &str| -> Result<Arc<DataTable>, ConfigError> {
        if let Some(t) = tables.get(file) {
            return Ok(t.clone());
        }
        let path = data_dir.join(file);
        if !path.exists() {
            return Err(err(format!(
                "data file `{file}` not found (looked for {})",
                path.display()
            )));
        }
        let t = Arc::new(DataTable::read(&path)?);
        tables.insert(file.to_string(), t.clone());
        Ok(t)
    };
    let column = |t: &DataTable, file: &str, name: &str| {
        t.column(name).ok_or_else(|| {
            err(format!(
                "data file `{file}` has no column `{name}` (columns: {:?})",
                t.columns
            ))
        })
    };
    Ok(match gen_file.get_ref() {
        GeneratorFile::Uuid => Generator::Uuid,
        GeneratorFile::Sequence => Generator::Sequence,
        GeneratorFile::Date { days_ago } => Generator::Date(*days_ago),
        GeneratorFile::Int { min, max } => {
            if min > max {
                return Err(err(format!("`min` {min} is above `max` {max}")));
            }
            Generator::Int(*min, *max)
        }
        GeneratorFile::Float { min, max, decimals } => {
            if min.partial_cmp(max) != Some(std::cmp::Ordering::Less) {
                return Err(err(format!("`min` {min} must be below `max` {max}")));
            }
            Generator::Float {
                min: *min,
                max: *max,
                scale: 10f64.powi(*decimals as i32),
            }
        }
        GeneratorFile::Choice { values, weights } => {
            if values.is_empty() {
                return Err(err("`values` is empty".into()));
            }
            let values: Vec<Value> = values
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect();
            let weights = match weights {
                Some(w) if w.len() != values.len() => {
                    return Err(err(format!(
                        "{} weights for {} values",
                        w.len(),
                        values.len()
                    )));
                }
                Some(w) => Some(WeightedIndex::new(w).map_err(|e| err(format!("`weights`: {e}")))?),
                None => None,
            };
            Generator::Choice { values, weights }
        }
        GeneratorFile::Pick {
            data,
            column: col,
            skew,
        } => {
            let t = table(data)?;
            let column = column(&t, data, col)?;
            if *skew < 0.0 {
                return Err(err(format!("`skew` {skew} must be ≥ 0")));
            }
            let rows = RowPick::new(t.rows.len(), *skew);
            Generator::Pick {
                table: t,
                column,
                rows,
            }
        }
        GeneratorFile::PosOrder {
            products,
            payment_methods,
            lines,
            skew,
            pos_session_id,
        } => {
            let p = table(products)?;
            let m = table(payment_methods)?;
            if lines[0] == 0 || lines[0] > lines[1] {
                return Err(err(format!(
                    "`lines` = {lines:?} must be [min, max] with 1 ≤ min ≤ max"
                )));
            }
            let payment_col = column(&m, payment_methods, "id")?;
            let payment_weights = match m.column("weight") {
                Some(w) => Some(
                    WeightedIndex::new(m.rows.iter().map(|r| r[w].as_f64().unwrap_or(0.0)))
                        .map_err(|e| err(format!("`{payment_methods}` weights: {e}")))?,
                ),
                None => None,
            };
            Generator::PosOrder(Box::new(PosOrderGen {
                product_id: column(&p, products, "id")?,
                price: column(&p, products, "list_price")?,
                rows: RowPick::new(p.rows.len(), *skew),
                payment_ids: m.rows.iter().map(|r| r[payment_col].clone()).collect(),
                payment_weights,
                products: p,
                lines: (lines[0], lines[1]),
                pos_session_id: *pos_session_id,
            }))
        }
    })
}
