//! Scenarios compiled for the engine: steps with resolved templates, generators built,
//! every name checked before the run starts.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::distr::weighted::WeightedIndex;
use serde_json::Value;

use super::generator::{Generator, PosOrderGen, RowPick};
use super::template::{Resolve, Template, TemplateError, check_literal};
use crate::config::ConfigError;
use crate::config::data::DataTable;
use crate::config::scenario::{GeneratorFile, ScenarioSource, SessionKind, StepFile};
use crate::target::data::{DataSets, schema};

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
    /// For each var, the slot its text as written goes to, when it keeps one apart
    /// ([`Generator::has_text`]): placeholders inside longer text read it.
    pub text_slots: Vec<Option<usize>>,
    pub steps: Vec<Step>,
    /// Total number of value slots a journey needs.
    pub slots: usize,
    /// Whether a journey must log in first: a `user` session, or an `execute_kw` step that
    /// sends the password with the user id.
    pub needs_login: bool,
    /// The target data sets its generators draw from (e.g. `shop_products`).
    pub datasets: BTreeSet<String>,
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
    /// For pages: `(slot, pattern)` to keep the first group of.
    pub extract: Vec<(usize, regex::Regex)>,
    /// For pages: text that must appear in the body.
    pub expect_text: Option<String>,
    /// For JSON results: `(pointer, values)`: the result must hold one of the values there.
    pub expect: Vec<(String, Vec<Value>)>,
    /// Wizards this step knows how to answer, by model.
    pub on_wizard: Vec<(String, WizardAnswer)>,
}

/// How a step answers a wizard Odoo opens.
#[derive(Debug, Clone, PartialEq)]
pub enum WizardAnswer {
    /// Press this button of the wizard (e.g. `process`), as the user would.
    Press(String),
    /// The action is the step's result (the step asks for it).
    Accept,
}

/// What a step sends.
#[derive(Debug)]
pub enum Call {
    /// `/web/dataset/call_kw/<model>/<method>` (or `/web/dataset/call_button` for a button)
    /// with `{model, method, args, kwargs}`.
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
    /// Load a page (GET, or POST a form), following redirects.
    Http {
        path: Template,
        form: Option<Vec<(String, Template)>>,
    },
}

impl Call {
    /// Whether the call needs the target user's password.
    pub fn needs_password(&self) -> bool {
        matches!(self, Call::ExecuteKw { .. })
    }
}

/// Compiles one scenario; `next_step_id` numbers steps across the whole plan.
/// What a scenario or step name may hold: names are written into transaction names
/// (`scenario/step`, where `/` separates), HDR log tags (no spaces or commas), file names,
/// report anchors and JUnit names, so they keep to one safe set.
const NAME_RULE: &str = "names use letters, digits, `_`, `-` and `.` only (at most 64, not dots alone), since they become transaction names, HDR log tags and file names";

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.chars().all(|c| c == '.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub fn compile(
    src: &ScenarioSource,
    data_dir: &Path,
    tables: &mut HashMap<String, Arc<DataTable>>,
    next_step_id: &mut usize,
    odoo_major: &str,
    data: &DataSets,
) -> Result<Scenario, ConfigError> {
    if !valid_name(&src.name) {
        return Err(ConfigError::key(
            &src.path,
            "(file name)",
            format!("scenario name `{}`: {NAME_RULE}", src.name),
        ));
    }
    let mut names: Vec<String> = BUILTINS.iter().map(|s| s.to_string()).collect();
    let mut vars = Vec::new();
    let mut datasets = BTreeSet::new();
    let major: u32 = odoo_major.parse().unwrap_or(17);
    for (name, gen_file) in &src.file.vars {
        if BUILTINS.contains(&name.as_str()) {
            return Err(src.error_at(
                gen_file,
                format!(
                    "`{name}` is a built-in value ({}); a var of that name would be ignored: rename it",
                    BUILTINS.join(", ")
                ),
            ));
        }
        let generator =
            compile_generator(src, gen_file, data_dir, tables, data, major, &mut datasets)?;
        names.push(name.clone());
        vars.push((name.clone(), generator));
    }
    // The fields of the vars known at check: a whole row's columns.
    let mut fields: HashMap<String, Vec<String>> = vars
        .iter()
        .filter_map(|(name, g)| match g {
            Generator::Pick {
                table,
                column: None,
                ..
            } => Some((name.clone(), table.columns.clone())),
            _ => None,
        })
        .collect();
    // Text slots follow the vars; their names cannot be written in a placeholder.
    let text_slots: Vec<Option<usize>> = vars
        .iter()
        .map(|(name, g)| {
            g.has_text().then(|| {
                names.push(text_slot_name(name));
                names.len() - 1
            })
        })
        .collect();
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
    for step in &src.file.steps {
        if !valid_name(step.name.get_ref()) {
            return Err(src.error_at(
                &step.name,
                format!("step name `{}`: {NAME_RULE}", step.name.get_ref()),
            ));
        }
    }
    for step in src.file.steps.iter().filter(|s| runs_here(s)) {
        if steps.iter().any(|s: &Step| &s.name == step.name.get_ref()) {
            return Err(src.error_at(
                &step.name,
                format!("step `{}` is defined twice", step.name.get_ref()),
            ));
        }
        let compiled = compile_step(src, step, &names, &fields, *next_step_id)?;
        *next_step_id += 1;
        // A value saved over a var has no other text nor known fields: later steps read the
        // saved value.
        for var in step.save.keys().chain(step.extract.keys()) {
            fields.remove(var);
            if let Some(t) = names.iter().position(|n| *n == text_slot_name(var)) {
                names[t] = format!("\0replaced {var}");
            }
        }
        // Saved values become visible to the steps after this one only.
        for var in step.save.keys() {
            if !names.contains(var) {
                names.push(var.clone());
            }
        }
        for var in step.extract.keys() {
            if !names.contains(var) {
                names.push(var.clone());
            }
        }
        let slot = |var: &String| names.iter().position(|n| n == var).unwrap_or(0);
        let save = step
            .save
            .iter()
            .map(|(v, p)| (slot(v), p.clone()))
            .collect();
        let extract = compiled
            .extract
            .iter()
            .zip(step.extract.keys())
            .map(|((_, re), v)| (slot(v), re.clone()))
            .collect();
        steps.push(Step {
            save,
            extract,
            ..compiled
        });
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
        datasets,
        needs_login,
        name: src.name.clone(),
        description: src.file.description.clone(),
        session: src.file.session,
        vars,
        text_slots,
        steps,
        slots: names.len(),
    })
}

/// Where `placeholder` is written in `step`'s table: the first time after the step's
/// `[[step]]` header (its name's place when not found, e.g. written with escapes).
fn placeholder_offset(src: &ScenarioSource, step: &StepFile, placeholder: &str) -> usize {
    let name_at = step.name.span().start;
    let table = src.text[..name_at].rfind("[[step]]").unwrap_or(0);
    src.text[table..]
        .find(placeholder)
        .map_or(name_at, |i| table + i)
}

/// The hidden name of var `name`'s text slot.
fn text_slot_name(name: &str) -> String {
    format!("\0text {name}")
}

/// The names a step's placeholders can use, in slot order, and the fields known of them.
struct Names<'a>(&'a [String], &'a HashMap<String, Vec<String>>);

impl Resolve for Names<'_> {
    fn slot(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|x| x == name)
    }

    fn text_slot(&self, name: &str) -> Option<usize> {
        self.slot(&text_slot_name(name))
    }

    fn fields(&self, name: &str) -> Option<Vec<String>> {
        self.1.get(name).cloned()
    }
}

fn compile_step(
    src: &ScenarioSource,
    step: &StepFile,
    names: &[String],
    fields: &HashMap<String, Vec<String>>,
    id: usize,
) -> Result<Step, ConfigError> {
    let here = |message: String| src.error_at(&step.name, message);
    let resolve = Names(names, fields);
    let template = |key: &str,
                    v: &Option<toml::Value>,
                    default: Value|
     -> Result<Template, ConfigError> {
        let json = match v {
            Some(v) => serde_json::to_value(v).map_err(|e| here(format!("`{key}`: {e}")))?,
            None => default,
        };
        Template::compile(&json, &resolve).map_err(|e| match &e {
            TemplateError::Unknown(unknown) => here(format!(
                "`{key}` uses `{{{{{unknown}}}}}`, which is neither a var, a value saved by an earlier step, nor one of {BUILTINS:?}"
            )),
            TemplateError::NoField { placeholder, .. } => ConfigError::at(
                &src.path,
                &src.text,
                placeholder_offset(src, step, placeholder),
                format!("`{key}` uses {e}"),
            ),
            _ => here(format!("`{key}`: {e}")),
        })
    };
    let text =
        |key: &str, s: &str| template(key, &Some(toml::Value::String(s.to_string())), Value::Null);
    // Fields used as written: a placeholder in them is never filled, so a `{{` left open or
    // naming a known value is a mistake.
    let literal = |key: &str, v: Value| {
        check_literal(&v, &resolve).map_err(|e| match e {
            TemplateError::NotFilled(name) => here(format!(
                "`{key}` is used as written: `{{{{{name}}}}}` would never be filled in"
            )),
            other => here(format!("`{key}`: {other}")),
        })
    };
    for (key, mm) in [
        ("call_kw", &step.call_kw),
        ("call_button", &step.call_button),
        ("execute_kw", &step.execute_kw),
    ] {
        if let Some(mm) = mm {
            literal(&format!("{key}.model"), Value::from(mm.model.as_str()))?;
            literal(&format!("{key}.method"), Value::from(mm.method.as_str()))?;
        }
    }
    if let Some(t) = &step.expect_text {
        literal("expect_text", Value::from(t.as_str()))?;
    }
    for (p, v) in &step.expect {
        literal("expect", Value::from(p.as_str()))?;
        literal(
            &format!("expect.\"{p}\""),
            serde_json::to_value(v).unwrap_or_default(),
        )?;
    }
    for (p, vs) in &step.expect_any {
        literal("expect_any", Value::from(p.as_str()))?;
        literal(
            &format!("expect_any.\"{p}\""),
            serde_json::to_value(vs).unwrap_or_default(),
        )?;
    }
    for (var, pointer) in &step.save {
        literal(&format!("save.{var}"), Value::from(pointer.as_str()))?;
    }
    // A saved value's name is used as written too: a `{{` in it is a mistake like anywhere.
    let nothing = |_: &str| None::<usize>;
    for (key, var) in step
        .save
        .keys()
        .map(|v| ("save", v))
        .chain(step.extract.keys().map(|v| ("extract", v)))
    {
        check_literal(&Value::from(var.as_str()), &nothing)
            .map_err(|e| here(format!("`{key}` key: {e}")))?;
    }
    for (model, answer) in &step.on_wizard {
        literal("on_wizard", Value::from(model.as_str()))?;
        literal(
            &format!("on_wizard.\"{model}\""),
            Value::from(answer.as_str()),
        )?;
    }
    for v in step.odoo.iter().flatten() {
        literal("odoo", Value::from(v.as_str()))?;
    }
    for k in step.form.iter().flat_map(|f| f.keys()) {
        literal("form", Value::from(k.as_str()))?;
    }
    for var in step.save.keys().chain(step.extract.keys()) {
        if BUILTINS.contains(&var.as_str()) {
            return Err(here(format!(
                "`{var}` is a built-in value ({}): saving over it would change what every later step sends as `{{{{{var}}}}}` (and what re-logins use); save it under another name",
                BUILTINS.join(", ")
            )));
        }
    }
    for pointer in step
        .save
        .values()
        .chain(step.expect.keys())
        .chain(step.expect_any.keys())
    {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(here(format!(
                "pointer `{pointer}` (in `save` or `expect`) must be empty or start with `/`"
            )));
        }
    }
    let is_page = step.http.is_some();
    if !is_page && (step.form.is_some() || !step.extract.is_empty() || step.expect_text.is_some()) {
        return Err(here(
            "`form`, `extract` and `expect_text` are for `http` steps (pages)".to_string(),
        ));
    }
    if is_page
        && (!step.save.is_empty()
            || !step.expect.is_empty()
            || !step.expect_any.is_empty()
            || !step.on_wizard.is_empty())
    {
        return Err(here(
            "`save`, `expect` and `on_wizard` read JSON results: a page step uses `extract` and `expect_text`".to_string(),
        ));
    }
    let mut extract = Vec::new();
    for (var, pattern) in &step.extract {
        let re = regex::Regex::new(pattern)
            .map_err(|e| here(format!("`extract.{var}` is not a regular expression: {e}")))?;
        if re.captures_len() < 2 {
            return Err(here(format!(
                "`extract.{var}` needs a group `( )` around the value to keep"
            )));
        }
        extract.push((0, re));
    }
    let json = |key: &str, v: &toml::Value| {
        serde_json::to_value(v).map_err(|e| here(format!("`{key}`: {e}")))
    };
    let mut expect = Vec::new();
    for (p, v) in &step.expect {
        expect.push((p.clone(), vec![json(&format!("expect.{p}"), v)?]));
    }
    for (p, vs) in &step.expect_any {
        if vs.is_empty() {
            return Err(here(format!("`expect_any.\"{p}\"` lists no value")));
        }
        let values = vs
            .iter()
            .map(|v| json(&format!("expect_any.{p}"), v))
            .collect::<Result<Vec<_>, _>>()?;
        expect.push((p.clone(), values));
    }
    let on_wizard = step
        .on_wizard
        .iter()
        .map(|(model, answer)| {
            let answer = match answer.trim() {
                "accept" => WizardAnswer::Accept,
                "" => return Err(here(format!("`on_wizard.\"{model}\"` names no button"))),
                button => WizardAnswer::Press(button.to_string()),
            };
            Ok((model.clone(), answer))
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let kinds = [
        step.call_kw.is_some(),
        step.call_button.is_some(),
        step.execute_kw.is_some(),
        step.jsonrpc.is_some(),
        step.http.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(here(format!(
            "step `{}` needs exactly one of `call_kw`, `call_button`, `execute_kw`, `jsonrpc`, `http`",
            step.name.get_ref()
        )));
    }
    let empty_args = Value::Array(vec![]);
    let empty_kwargs = Value::Object(Default::default());
    let button = step.call_button.as_ref();
    let call = if let Some(mm) = step.call_kw.as_ref().or(button) {
        Call::CallKw {
            path: match button {
                // 17 serves only the bare route; 18 serves both.
                Some(_) => "/web/dataset/call_button".to_string(),
                None => format!("/web/dataset/call_kw/{}/{}", mm.model, mm.method),
            },
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
        let form = match &step.form {
            Some(fields) => Some(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), text(&format!("form.{k}"), v)?)))
                    .collect::<Result<Vec<_>, ConfigError>>()?,
            ),
            None => None,
        };
        Call::Http {
            path: text("http", step.http.as_deref().unwrap_or("/"))?,
            form,
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
        extract,
        expect_text: step.expect_text.clone(),
        expect,
        on_wizard,
    })
}

#[allow(clippy::too_many_arguments)]
fn compile_generator(
    src: &ScenarioSource,
    gen_file: &toml::Spanned<GeneratorFile>,
    data_dir: &Path,
    tables: &mut HashMap<String, Arc<DataTable>>,
    data: &DataSets,
    odoo_major: u32,
    used: &mut BTreeSet<String>,
) -> Result<Generator, ConfigError> {
    let err = |m: String| src.error_at(gen_file, m);
    let mut csv = |file: &str| -> Result<Arc<DataTable>, ConfigError> {
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
    let mut dataset = |name: &str| -> Result<Arc<DataTable>, ConfigError> {
        let known = schema(name).is_some();
        let table = data.get(name).filter(|_| known).ok_or_else(|| {
            err(format!(
                "`{name}` is not a data set of the target (they are: {})",
                crate::target::data::SCHEMAS
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        used.insert(name.to_string());
        Ok(table)
    };
    let column = |t: &DataTable, source: &str, name: &str| {
        t.column(name).ok_or_else(|| {
            err(format!(
                "`{source}` has no column `{name}` (columns: {})",
                t.columns.join(", ")
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
            // A choice is sent as drawn: a placeholder in it is never filled.
            let known =
                |n: &str| (BUILTINS.contains(&n) || src.file.vars.contains_key(n)).then_some(0);
            for v in &values {
                check_literal(v, &known).map_err(|e| match e {
                    TemplateError::NotFilled(name) => err(format!(
                        "`values` are sent as drawn: `{{{{{name}}}}}` would never be filled in"
                    )),
                    other => err(format!("`values`: {other}")),
                })?;
            }
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
            data: file,
            from,
            column: col,
            skew,
        } => {
            let (t, source) = match (file, from) {
                (Some(f), None) => (csv(f)?, f.clone()),
                (None, Some(d)) => (dataset(d)?, d.clone()),
                _ => {
                    return Err(err(
                        "`pick` takes `from` (a data set of the target) or `data` (a CSV file), one of them".into(),
                    ));
                }
            };
            let column = match col {
                Some(c) => Some(column(&t, &source, c)?),
                None => None,
            };
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
        GeneratorFile::PosOrder { lines, skew } => {
            if lines[0] == 0 || lines[0] > lines[1] {
                return Err(err(format!(
                    "`lines` = {lines:?} must be [min, max] with 1 ≤ min ≤ max"
                )));
            }
            let products = dataset("pos_products")?;
            Generator::PosOrder(Box::new(PosOrderGen {
                sessions: dataset("pos_sessions")?,
                taxes: dataset("taxes")?,
                rows: RowPick::new(products.rows.len(), *skew),
                products,
                lines: (lines[0], lines[1]),
                odoo_major,
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_err(text: &str) -> String {
        let src = ScenarioSource::parse("s", "s.toml".into(), text.to_string()).unwrap();
        compile(
            &src,
            Path::new("."),
            &mut HashMap::new(),
            &mut 1,
            "17",
            &DataSets::offline(),
        )
        .unwrap_err()
        .to_string()
    }

    const STEP: &str = "[[step]]\nname = \"a\"\n";

    #[test]
    fn template_mistakes_are_located_errors_in_every_string_field() {
        let call = "call_kw = { model = \"res.partner\", method = \"read\" }\n";
        for (text, wanted) in [
            (
                format!("{STEP}call_kw = {{ model = \"res.{{{{x\", method = \"read\" }}\n"),
                "s.toml:2:8: `call_kw.model`: `res.{{x` opens a placeholder",
            ),
            (
                format!("{STEP}{call}expect = {{ \"/state\" = \"{{{{done\" }}\n"),
                "s.toml:2:8: `expect.\"/state\"`: `{{done` opens a placeholder",
            ),
            (
                format!("{STEP}{call}expect_any = {{ \"/state\" = [\"a\", \"{{{{b\"] }}\n"),
                "`expect_any.\"/state\"`: `{{b` opens",
            ),
            (
                format!("{STEP}{call}expect = {{ \"/login\" = \"{{{{login}}}}\" }}\n"),
                "`expect.\"/login\"` is used as written: `{{login}}` would never be filled in",
            ),
            (
                format!("{STEP}http = \"/shop\"\nexpect_text = \"Hello {{{{uid\"\n"),
                "`expect_text`: `Hello {{uid` opens",
            ),
            (
                format!("{STEP}{call}kwargs = {{ context = {{ \"{{{{lang\" = 1 }} }}\n"),
                "`kwargs`: `{{lang` opens",
            ),
            (
                format!("{STEP}http = \"/web/login\"\nform = {{ \"{{{{login}}}}\" = \"x\" }}\n"),
                "`form` is used as written: `{{login}}` would never be filled in",
            ),
            (
                format!(
                    "[vars]\nc = {{ gen = \"choice\", values = [\"a\", \"{{{{b\"] }}\n{STEP}{call}"
                ),
                "s.toml:2:5: `values`: `{{b` opens",
            ),
        ] {
            let err = compile_err(&text);
            assert!(err.contains(wanted), "{text}\n→ {err}");
        }
    }

    #[test]
    fn save_over_a_built_in_is_a_located_error() {
        let err = compile_err(&format!(
            "{STEP}call_kw = {{ model = \"res.users\", method = \"read\" }}\nsave = {{ uid = \"/0/id\" }}\n"
        ));
        assert!(
            err.starts_with("s.toml:2:8: `uid` is a built-in value (db, login, uid)"),
            "{err}"
        );
        let err = compile_err(&format!(
            "{STEP}http = \"/web/login\"\nextract = {{ login = \"name=\\\"login\\\" value=\\\"([^\\\"]*)\" }}\n"
        ));
        assert!(err.contains("`login` is a built-in value"), "{err}");
    }

    #[test]
    fn vars_errors_carry_their_line_and_column() {
        let err = compile_err(&format!(
            "description = \"x\"\n[vars]\nlogin = {{ gen = \"uuid\" }}\n{STEP}http = \"/\"\n"
        ));
        assert!(
            err.starts_with("s.toml:3:9: `login` is a built-in value"),
            "{err}"
        );
    }

    #[test]
    fn row_fields_a_data_file_lacks_are_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("codes.csv"), "barcode,qty:int\n0012,3\n").unwrap();
        let compile_in = |text: &str| {
            let src = ScenarioSource::parse("s", "s.toml".into(), text.to_string()).unwrap();
            compile(
                &src,
                dir.path(),
                &mut HashMap::new(),
                &mut 1,
                "17",
                &DataSets::offline(),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let head = "[vars]\nrow = { gen = \"pick\", data = \"codes.csv\" }\n[[step]]\nname = \"a\"\nhttp = \"/\"\n";
        let err = compile_in(&format!(
            "{head}form = {{ code = \"x{{{{row.barcod}}}}y\" }}\n"
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "s.toml:6:19: `form.code` uses `{{row.barcod}}`: `row` has no field `barcod` (its columns: barcode, qty; nearest: `barcode`, `qty`)"
        );
        // A whole-string placeholder too, and a target data set's known columns.
        let err = compile_in(&format!(
            "{head}form = {{ q = \"{{{{ row.nosuch }}}}\" }}\n"
        ))
        .unwrap_err();
        assert!(
            err.starts_with("s.toml:6:15: `form.q` uses `{{ row.nosuch }}`"),
            "{err}"
        );
        let err = compile_in(
            "[vars]\nc = { gen = \"pick\", from = \"customers\" }\n[[step]]\nname = \"a\"\nhttp = \"/p/{{c.mail}}\"\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("s.toml:5:12: `http` uses `{{c.mail}}`: `c` has no field `mail` (its columns: partner_id, name, email;"),
            "{err}"
        );
        // Columns the file has pass; a value saved over the row has fields unknown at check.
        compile_in(&format!(
            "{head}form = {{ code = \"x{{{{row.barcode}}}}{{{{row.qty}}}}\" }}\n"
        ))
        .unwrap();
        compile_in(&format!(
            "{head}extract = {{ row = \"r=(.*)\" }}\n[[step]]\nname = \"b\"\nhttp = \"/{{{{row.any}}}}\"\n"
        ))
        .unwrap();
    }

    #[test]
    fn dot_names_are_refused_like_any_name_outside_the_rule() {
        for name in [".", ".."] {
            let err = compile_err(&format!("[[step]]\nname = \"{name}\"\nhttp = \"/\"\n"));
            assert!(
                err.starts_with(&format!(
                    "s.toml:2:8: step name `{name}`: names use letters"
                )),
                "{err}"
            );
            assert!(err.contains("not dots alone"), "{err}");
        }
        assert!(!valid_name("..."));
        assert!(valid_name("v1.2"));
    }

    #[test]
    fn unclosed_placeholders_in_save_keys_are_refused() {
        let err = compile_err(&format!(
            "{STEP}call_kw = {{ model = \"res.users\", method = \"read\" }}\nsave = {{ \"x{{{{y\" = \"/0/id\" }}\n"
        ));
        assert!(
            err.starts_with("s.toml:2:8: `save` key: `x{{y` opens a placeholder"),
            "{err}"
        );
        let err = compile_err(&format!(
            "{STEP}http = \"/\"\nextract = {{ \"{{{{c\" = \"c=(.*)\" }}\n"
        ));
        assert!(err.contains("`extract` key: `{{c` opens"), "{err}");
    }
}
