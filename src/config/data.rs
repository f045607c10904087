//! CSV data files (`scenarios/data/*.csv`) that scenario generators draw values from.
//!
//! A cell keeps its text: it becomes a number (or a boolean, or a list of ids) only when its
//! column says so, by a type in the header (`qty:int`) or by Odoo's naming of record ids
//! (`id`, `*_id`, `*_ids`). Every cell's text as written is kept beside its value, so a
//! placeholder inside longer text (`p-{{row.price}}`) uses the text, never a number
//! reformatted (`19.90`, not `19.9`).

use std::path::Path;

use serde_json::Value;

use super::ConfigError;

/// A CSV file held in memory: each cell's value as its column types it, and its text.
#[derive(Debug, Clone, Default)]
pub struct DataTable {
    /// Header names (without their type), in file order.
    pub columns: Vec<String>,
    /// Rows of cells, one per column, typed as the column says.
    pub rows: Vec<Vec<Value>>,
    /// Each cell's text as written in the file, row by row; empty for tables not read from a
    /// file (a target's data sets, whose values are already Odoo's own).
    pub text: Vec<Vec<String>>,
    /// Columns whose header names no type and whose every cell is a plain number (`42`,
    /// `19.90`, `0012`): sent as text, which `check` says, in case Odoo needs a number.
    pub numbers_as_text: Vec<String>,
}

impl DataTable {
    /// Reads a CSV with a header row; an empty file, a ragged row or a cell its column cannot
    /// hold is an error at its line (and column).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        DataTable::read_typed(path, |_| None)
    }

    /// Like [`DataTable::read`], with `kind_of` giving the kind of a column whose header names
    /// none (the kinds of a target data set's columns, which a `[data]` file replaces).
    pub fn read_typed(
        path: &Path,
        kind_of: impl Fn(&str) -> Option<ColumnKind>,
    ) -> Result<Self, ConfigError> {
        // Bytes, not text: the CSV reader says where a cell is not UTF-8.
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let headers_raw: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(path, &e))?
            .iter()
            .map(str::to_string)
            .collect();
        let header: Vec<(String, ColumnKind)> = headers_raw
            .iter()
            .map(|h| {
                column_kind(h, &kind_of).map_err(|m| ConfigError::At {
                    path: path.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: m,
                })
            })
            .collect::<Result<_, _>>()?;
        let columns: Vec<String> = header.iter().map(|(n, _)| n.clone()).collect();
        // Two columns of one name: one would hide the other (and its type) in every row.
        if let Some((i, first)) = columns
            .iter()
            .enumerate()
            .find_map(|(i, c)| columns[..i].iter().position(|d| d == c).map(|f| (i, f)))
        {
            return Err(ConfigError::At {
                path: path.to_path_buf(),
                line: 1,
                column: i + 1,
                message: format!(
                    "column `{}` (`{}`) is named twice: header cell {} is `{}`; rename or drop one",
                    columns[i],
                    headers_raw[i],
                    first + 1,
                    headers_raw[first]
                ),
            });
        }
        let mut rows = Vec::new();
        let mut texts = Vec::new();
        for record in reader.records() {
            let line = record
                .as_ref()
                .ok()
                .and_then(|r| r.position())
                .map_or(0, |p| p.line() as usize);
            let record = record.map_err(|e| csv_error(path, &e))?;
            let row = record
                .iter()
                .zip(&header)
                .enumerate()
                .map(|(i, (raw, (name, kind)))| {
                    cell(raw, *kind).map_err(|m| ConfigError::At {
                        path: path.to_path_buf(),
                        line,
                        column: i + 1,
                        message: format!("column `{name}`: {m}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(row);
            texts.push(record.iter().map(str::to_string).collect());
        }
        if rows.is_empty() {
            return Err(ConfigError::key(
                path,
                "(rows)",
                "the data file has no rows",
            ));
        }
        let numbers_as_text = header
            .iter()
            .enumerate()
            .filter(|(i, (name, kind))| {
                *kind == ColumnKind::Text
                    && !name.is_empty()
                    && !untyped_text_is_declared(&headers_raw[*i])
                    && texts.iter().all(|row: &Vec<String>| plain_number(&row[*i]))
            })
            .map(|(_, (name, _))| name.clone())
            .collect();
        Ok(DataTable {
            columns,
            rows,
            text: texts,
            numbers_as_text,
        })
    }

    /// Index of a column, if present.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Row `i` as an object, column → cell.
    pub fn row_object(&self, i: usize) -> Value {
        Value::Object(
            self.columns
                .iter()
                .cloned()
                .zip(self.rows[i].iter().cloned())
                .collect(),
        )
    }

    /// Whether the cells' text as written is kept (a table read from a file).
    pub fn has_text(&self) -> bool {
        !self.text.is_empty()
    }

    /// Row `i` as an object of each cell's text as written, column → text; the typed row
    /// when no text is kept.
    pub fn row_text_object(&self, i: usize) -> Value {
        match self.text.get(i) {
            Some(cells) => Value::Object(
                self.columns
                    .iter()
                    .cloned()
                    .zip(cells.iter().cloned().map(Value::String))
                    .collect(),
            ),
            None => self.row_object(i),
        }
    }

    /// Cell `(i, c)`'s text as written; the typed value when no text is kept.
    pub fn cell_text(&self, i: usize, c: usize) -> Value {
        match self.text.get(i).and_then(|r| r.get(c)) {
            Some(t) => Value::String(t.clone()),
            None => self.rows[i][c].clone(),
        }
    }
}

/// A CSV reader's error at its line (and, for text that is not UTF-8, its cell).
fn csv_error(path: &Path, e: &csv::Error) -> ConfigError {
    let line = e.position().map_or(0, |p| p.line() as usize);
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => ConfigError::At {
            path: path.to_path_buf(),
            line,
            column: err.field() + 1,
            message: "this cell is not UTF-8 text (save the file as UTF-8)".to_string(),
        },
        _ => ConfigError::At {
            path: path.to_path_buf(),
            line,
            column: 1,
            message: e.to_string(),
        },
    }
}

/// What a column holds, from its header: `name:text`, `name:int`, `name:float`, `name:bool`;
/// a header with no type holds text, except Odoo's record ids (`id`, `*_id`: an integer;
/// `*_ids`: a list of integers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnKind {
    /// The cell as written.
    Text,
    /// An integer (`-7`, `0012` is 12).
    Int,
    /// A finite number.
    Float,
    /// `true`/`false`, `1`/`0`, `yes`/`no`; empty is false.
    Bool,
    /// Record ids separated by spaces, `;` or `,` (`"3 7"`); empty is no id.
    Ids,
}

fn column_kind(
    header: &str,
    kind_of: &impl Fn(&str) -> Option<ColumnKind>,
) -> Result<(String, ColumnKind), String> {
    let Some((name, kind)) = header.rsplit_once(':') else {
        let kind = kind_of(header).unwrap_or(if header == "id" || header.ends_with("_id") {
            ColumnKind::Int
        } else if header.ends_with("_ids") {
            ColumnKind::Ids
        } else {
            ColumnKind::Text
        });
        return Ok((header.to_string(), kind));
    };
    let kind = match kind.trim() {
        "text" | "str" => ColumnKind::Text,
        "int" => ColumnKind::Int,
        "float" | "number" => ColumnKind::Float,
        "bool" => ColumnKind::Bool,
        "ids" => ColumnKind::Ids,
        other => {
            return Err(format!(
                "column `{header}`: unknown type `{other}` (text, int, float, bool or ids)"
            ));
        }
    };
    Ok((name.to_string(), kind))
}

/// Whether a header says its column is text (`barcode:text`): no note is due then.
fn untyped_text_is_declared(header: &str) -> bool {
    header.contains(':')
}

/// `-?D+` or `-?D+.D+`: what a person may mean as a number.
fn plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
}

/// A CSV cell as JSON: text as written, or converted as its column says (or an error that
/// says how to keep it as text).
fn cell(raw: &str, kind: ColumnKind) -> Result<Value, String> {
    match kind {
        ColumnKind::Text => Ok(Value::from(raw)),
        ColumnKind::Int => raw.trim().parse::<i64>().map(Value::from).map_err(|_| {
            format!("`{raw}` is not an integer (a header `name:text` keeps a column as text)")
        }),
        ColumnKind::Float => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from)
            .ok_or_else(|| format!("`{raw}` is not a number")),
        ColumnKind::Bool => match raw.trim().to_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "" => Ok(Value::Bool(false)),
            _ => Err(format!("`{raw}` is not true or false")),
        },
        ColumnKind::Ids => raw
            .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map(Value::from))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
            .map_err(|_| format!("`{raw}` is not a list of record ids (integers)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<DataTable, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv");
        std::fs::write(&path, text).unwrap();
        DataTable::read(&path)
    }

    fn kind(header: &str) -> ColumnKind {
        column_kind(header, &|_| None).unwrap().1
    }

    #[test]
    fn csv_values_keep_their_text_unless_the_column_says_so() {
        // Quoted or not, with or without a leading zero: an untyped column is text.
        let t = read(
            "barcode,price,qty:int,price_f:float,ref\n\"4006381333931\",19.90,007,19.90,\"42\"\n0012345678905,-7,+3,0.25,42\n",
        )
        .unwrap();
        assert_eq!(t.columns, ["barcode", "price", "qty", "price_f", "ref"]);
        assert_eq!(t.rows[0][0], Value::from("4006381333931"));
        assert_eq!(t.rows[1][0], Value::from("0012345678905"));
        assert_eq!(t.rows[0][1], Value::from("19.90"));
        assert_eq!(t.rows[1][1], Value::from("-7"));
        assert_eq!(t.rows[0][4], Value::from("42"));
        assert_eq!(t.rows[1][4], Value::from("42"));
        // Typed columns convert; their text is kept beside.
        assert_eq!(t.rows[0][2], Value::from(7));
        assert_eq!(t.rows[1][2], Value::from(3));
        assert_eq!(t.rows[0][3], Value::from(19.9));
        assert_eq!(t.cell_text(0, 3), Value::from("19.90"));
        assert_eq!(t.cell_text(0, 2), Value::from("007"));
        assert_eq!(t.row_text_object(0)["price_f"], Value::from("19.90"));
        // Untyped columns of plain numbers are said (`check` notes them); a typed or
        // declared-text column, or one with a `+`, is not.
        assert_eq!(t.numbers_as_text, ["barcode", "price", "ref"]);
        let t = read("code:text,n,m\n0012,+3,x\n").unwrap();
        assert!(t.numbers_as_text.is_empty(), "{:?}", t.numbers_as_text);
    }

    #[test]
    fn csv_record_ids_are_integers_by_odoo_names() {
        assert_eq!(kind("id"), ColumnKind::Int);
        assert_eq!(kind("product_id"), ColumnKind::Int);
        assert_eq!(kind("tax_ids"), ColumnKind::Ids);
        assert_eq!(kind("idea"), ColumnKind::Text);
        assert_eq!(kind("product_id:text"), ColumnKind::Text);
        assert_eq!(kind("qty:int"), ColumnKind::Int);
        assert!(column_kind("qty:integer", &|_| None).is_err());
        assert_eq!(
            column_kind("list_price", &|c| (c == "list_price")
                .then_some(ColumnKind::Float))
            .unwrap(),
            ("list_price".into(), ColumnKind::Float)
        );
        let t = read("partner_id,tax_ids\n17,3 7\n18,\n").unwrap();
        assert_eq!(t.rows[0], [Value::from(17), serde_json::json!([3, 7])]);
        assert_eq!(t.rows[1][1], serde_json::json!([]));
    }

    #[test]
    fn csv_cells_a_column_cannot_hold_are_located_errors() {
        let err = read("name,partner_id\nMug,17\nCup,base.main_partner\n")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("data.csv:3:2: column `partner_id`: `base.main_partner` is not an integer (a header `name:text` keeps a column as text)"), "{err}");
        assert!(cell("twelve", ColumnKind::Int).is_err());
        assert!(cell("inf", ColumnKind::Float).is_err());
        assert_eq!(cell("yes", ColumnKind::Bool).unwrap(), Value::Bool(true));
    }

    #[test]
    fn duplicate_csv_headers_are_located_errors() {
        let err = read("barcode,barcode:text,qty:int,qty\n1,2,3,4\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("data.csv:1:2: column `barcode` (`barcode:text`) is named twice: header cell 1 is `barcode`; rename or drop one"),
            "{err}"
        );
        let err = read("a,qty:int,qty\n1,2,3\n").unwrap_err().to_string();
        assert!(
            err.contains("data.csv:1:3: column `qty` (`qty`) is named twice"),
            "{err}"
        );
    }

    #[test]
    fn non_utf8_csv_cells_are_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.csv");
        std::fs::write(&path, b"name,code\nMug,1\nCaf\xe9,2\n").unwrap();
        let err = DataTable::read(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("data.csv:3:1: this cell is not UTF-8 text (save the file as UTF-8)"),
            "{err}"
        );
        std::fs::write(&path, b"name,c\xf3de\nMug,1\n").unwrap();
        let err = DataTable::read(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("data.csv:1:2: this cell is not UTF-8 text (save the file as UTF-8)"),
            "{err}"
        );
    }
}
