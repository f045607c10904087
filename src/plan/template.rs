//! Step payload templates: JSON with `{{name}}` placeholders, compiled once into slot
//! references so a journey fills them without looking names up.
//!
//! A string that is exactly `"{{name}}"` takes the value as it is (a number stays a number,
//! an object stays an object); placeholders inside longer text are formatted into it.
//! `{{name.field}}` reaches into an object value (a data row: `{{product.product_id}}`), and
//! `{{name.0}}` into a list.
//!
//! Text always takes a value's text as written: a placeholder inside longer text, or one
//! rendered as text (a URL path, a form field), reads the value's text slot when it has one
//! (a CSV cell `19.90` typed `:float` is the number 19.9 as a whole value, `p-19.90` in text).

use serde_json::{Map, Value};

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// No placeholder anywhere below: used as is.
    Literal(Value),
    /// The whole value of a slot, or of a field within it.
    Slot(Ref),
    /// Text with placeholders formatted into it.
    Text(Vec<Part>),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

/// A piece of a text template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Slot(Ref),
}

/// A slot, and the fields to follow inside its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Ref {
    pub slot: usize,
    /// The slot holding the same value's text as written (the slot itself when the value
    /// has no other text).
    pub text: usize,
    pub path: Vec<String>,
}

/// How placeholder names become slots.
pub trait Resolve {
    /// The slot of a value.
    fn slot(&self, name: &str) -> Option<usize>;
    /// The slot of that value's text as written, when it is kept apart (CSV cells).
    fn text_slot(&self, _name: &str) -> Option<usize> {
        None
    }
    /// The fields a value is known to have at check (a CSV row's columns), when known.
    fn fields(&self, _name: &str) -> Option<Vec<String>> {
        None
    }
}

impl<F: Fn(&str) -> Option<usize>> Resolve for F {
    fn slot(&self, name: &str) -> Option<usize> {
        self(name)
    }
}

impl Ref {
    /// The value it points at (`null` when a field is missing).
    fn get<'a>(&self, slots: &'a [Value]) -> &'a Value {
        self.follow(&slots[self.slot])
    }

    /// The value's text as written.
    fn get_text<'a>(&self, slots: &'a [Value]) -> &'a Value {
        self.follow(&slots[self.text])
    }

    fn follow<'a>(&self, mut v: &'a Value) -> &'a Value {
        for key in &self.path {
            v = match v {
                Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
                Value::Array(a) => key
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| a.get(i))
                    .unwrap_or(&Value::Null),
                _ => &Value::Null,
            };
        }
        v
    }
}

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// A placeholder names nothing known.
    #[error("`{{{{{0}}}}}` names nothing known")]
    Unknown(String),
    /// A `{{` with no `}}` after it: it would be sent as written.
    #[error("`{0}` opens a placeholder with `{{{{` and never closes it with `}}}}`")]
    Unclosed(String),
    /// A placeholder naming a known value in a field that is used as written (a model name,
    /// an expected value, an object key): it would never be filled.
    #[error("`{{{{{0}}}}}` is not filled here: this field is used as written")]
    NotFilled(String),
    /// A placeholder reaches for a field its value is known not to have (a column the data
    /// file lacks): it would be sent as `null`.
    #[error(
        "`{placeholder}`: `{name}` has no field `{field}` (its columns: {}; nearest: {})",
        fields.join(", "),
        super::nearest(field, &fields.iter().map(String::as_str).collect::<Vec<_>>())
    )]
    NoField {
        /// The placeholder as written (`{{row.nosuch}}`), to locate it.
        placeholder: String,
        name: String,
        field: String,
        fields: Vec<String>,
    },
}

/// Checks a value used as written (no placeholder is filled in it): every string in it, and
/// every object key, must not hold a `{{` left open, nor a placeholder naming a known value.
pub fn check_literal(value: &Value, resolve: &impl Resolve) -> Result<(), TemplateError> {
    match value {
        Value::String(s) => check_literal_text(s, resolve),
        Value::Array(items) => items.iter().try_for_each(|v| check_literal(v, resolve)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check_literal_text(k, resolve)?;
            check_literal(v, resolve)
        }),
        _ => Ok(()),
    }
}

fn check_literal_text(s: &str, resolve: &impl Resolve) -> Result<(), TemplateError> {
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            return Err(TemplateError::Unclosed(s.to_string()));
        };
        let name = rest[open + 2..open + close].trim();
        if resolve.slot(name.split('.').next().unwrap_or("")).is_some() {
            return Err(TemplateError::NotFilled(name.to_string()));
        }
        rest = &rest[open + close + 2..];
    }
    Ok(())
}

impl Template {
    /// Compiles `value`, resolving each placeholder with `resolve` (name → slot); the error
    /// is the first unknown name or unclosed placeholder.
    pub fn compile(value: &Value, resolve: &impl Resolve) -> Result<Template, TemplateError> {
        let t = match value {
            Value::String(s) => compile_text(s, resolve)?,
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .map(|v| Template::compile(v, resolve))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Template::Object(
                map.iter()
                    .map(|(k, v)| {
                        check_literal_text(k, resolve)?;
                        Ok((k.clone(), Template::compile(v, resolve)?))
                    })
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => Template::Literal(other.clone()),
        };
        Ok(t.folded())
    }

    /// Turns placeholder-free subtrees back into literals, so rendering them is a clone.
    fn folded(self) -> Template {
        match self {
            Template::Array(items) if items.iter().all(Template::is_literal) => Template::Literal(
                Value::Array(items.into_iter().map(Template::unwrap).collect()),
            ),
            Template::Object(fields) if fields.iter().all(|(_, t)| t.is_literal()) => {
                Template::Literal(Value::Object(
                    fields.into_iter().map(|(k, t)| (k, t.unwrap())).collect(),
                ))
            }
            t => t,
        }
    }

    fn is_literal(&self) -> bool {
        matches!(self, Template::Literal(_))
    }

    fn unwrap(self) -> Value {
        match self {
            Template::Literal(v) => v,
            _ => unreachable!("only literals are unwrapped"),
        }
    }

    /// The value with every slot filled from `slots`.
    pub fn render(&self, slots: &[Value]) -> Value {
        match self {
            Template::Literal(v) => v.clone(),
            Template::Slot(r) => r.get(slots).clone(),
            Template::Text(parts) => Value::String(render_text(parts, slots)),
            Template::Array(items) => Value::Array(items.iter().map(|t| t.render(slots)).collect()),
            Template::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    map.insert(k.clone(), t.render(slots));
                }
                Value::Object(map)
            }
        }
    }

    /// The rendered value as text (for URL paths and form fields): a whole placeholder gives
    /// the value's text as written.
    pub fn render_string(&self, slots: &[Value]) -> String {
        let v = match self {
            Template::Slot(r) => r.get_text(slots).clone(),
            other => other.render(slots),
        };
        match v {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

fn compile_text(s: &str, resolve: &impl Resolve) -> Result<Template, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            return Err(TemplateError::Unclosed(s.to_string()));
        };
        if open > 0 {
            parts.push(Part::Lit(rest[..open].to_string()));
        }
        let name = rest[open + 2..open + close].trim();
        let mut keys = name.split('.');
        let base = keys.next().unwrap_or("");
        let slot = resolve
            .slot(base)
            .ok_or_else(|| TemplateError::Unknown(name.to_string()))?;
        let path: Vec<String> = keys.map(str::to_string).collect();
        if let (Some(field), Some(fields)) = (path.first(), resolve.fields(base))
            && !fields.contains(field)
        {
            return Err(TemplateError::NoField {
                placeholder: rest[open..open + close + 2].to_string(),
                name: base.to_string(),
                field: field.clone(),
                fields,
            });
        }
        parts.push(Part::Slot(Ref {
            slot,
            text: resolve.text_slot(base).unwrap_or(slot),
            path,
        }));
        rest = &rest[open + close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    Ok(match parts.as_slice() {
        [] => Template::Literal(Value::String(String::new())),
        [Part::Slot(r)] => Template::Slot(r.clone()),
        [Part::Lit(_)] => Template::Literal(Value::String(s.to_string())),
        _ => Template::Text(parts),
    })
}

fn render_text(parts: &[Part], slots: &[Value]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Lit(s) => out.push_str(s),
            Part::Slot(r) => match r.get_text(slots) {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(n: &str) -> Option<usize> {
        ["product", "qty"].iter().position(|x| *x == n)
    }

    #[test]
    fn a_whole_placeholder_keeps_the_value_type() {
        let t = Template::compile(
            &json!({"product_id": "{{product}}", "add_qty": "{{ qty }}"}),
            &names,
        )
        .unwrap();
        assert_eq!(
            t.render(&[json!(17), json!(3)]),
            json!({"product_id": 17, "add_qty": 3})
        );
    }

    #[test]
    fn placeholders_inside_text_are_formatted() {
        let t = Template::compile(&json!("/shop/product-{{product}}?q={{qty}}"), &names).unwrap();
        assert_eq!(
            t.render_string(&[json!(17), json!(3)]),
            "/shop/product-17?q=3"
        );
    }

    #[test]
    fn dotted_names_reach_into_rows() {
        let t = Template::compile(
            &json!({"page": "{{product.url}}", "id": "{{product.product_id}}", "q": "{{qty.0}}"}),
            &names,
        )
        .unwrap();
        let row = json!({"url": "/shop/desk-9", "product_id": 51});
        assert_eq!(
            t.render(&[row, json!([4])]),
            json!({"page": "/shop/desk-9", "id": 51, "q": 4})
        );
        assert_eq!(
            Template::compile(&json!("{{product.nope}}"), &names)
                .unwrap()
                .render(&[json!({}), json!(1)]),
            Value::Null
        );
    }

    #[test]
    fn unknown_names_are_reported() {
        let err = Template::compile(&json!(["{{customer}}"]), &names).unwrap_err();
        assert_eq!(err, TemplateError::Unknown("customer".into()));
    }

    #[test]
    fn an_unclosed_placeholder_is_an_error_not_a_literal() {
        let err = Template::compile(&json!({"q": "{{product"}), &names).unwrap_err();
        assert_eq!(err, TemplateError::Unclosed("{{product".into()));
    }

    #[test]
    fn template_mistakes_in_fields_used_as_written_are_errors() {
        let ok = |v: Value| check_literal(&v, &names);
        assert_eq!(
            ok(json!({"/state": ["done", "{{product"]})),
            Err(TemplateError::Unclosed("{{product".into()))
        );
        assert_eq!(
            ok(json!("res.{{ qty }}")),
            Err(TemplateError::NotFilled("qty".into()))
        );
        assert_eq!(
            ok(json!({"{{product.id}}": 1})),
            Err(TemplateError::NotFilled("product.id".into()))
        );
        // Braces that name nothing known are text (a page's own `{{ }}` markup).
        assert_eq!(ok(json!(["{{ t-esc }}", "a}}b", 3])), Ok(()));
        // An object key in a template is used as written too.
        let err = Template::compile(&json!({"{{qty": "{{product}}"}), &names).unwrap_err();
        assert_eq!(err, TemplateError::Unclosed("{{qty".into()));
    }

    #[test]
    fn text_placeholders_read_the_value_as_written() {
        struct WithText;
        impl Resolve for WithText {
            fn slot(&self, n: &str) -> Option<usize> {
                (n == "price").then_some(0)
            }
            fn text_slot(&self, n: &str) -> Option<usize> {
                (n == "price").then_some(1)
            }
        }
        let slots = [json!(19.9), json!("19.90")];
        let whole = Template::compile(&json!("{{price}}"), &WithText).unwrap();
        assert_eq!(whole.render(&slots), json!(19.9));
        assert_eq!(whole.render_string(&slots), "19.90");
        let text = Template::compile(&json!("p-{{price}}"), &WithText).unwrap();
        assert_eq!(text.render(&slots), json!("p-19.90"));
    }

    #[test]
    fn placeholder_free_subtrees_become_literals() {
        let t = Template::compile(&json!({"a": [1, "x"], "b": {"c": true}}), &names).unwrap();
        assert!(t.is_literal());
    }
}
