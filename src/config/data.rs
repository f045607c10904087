//! CSV data files (`scenarios/data/*.csv`) that scenario generators draw values from.

use std::path::Path;

use serde_json::Value;

use super::ConfigError;

/// A CSV file held in memory with typed cells (numbers stay numbers).
#[derive(Debug, Clone)]
pub struct DataTable {
    /// Header names, in file order.
    pub columns: Vec<String>,
    /// Rows of cells, one per column.
    pub rows: Vec<Vec<Value>>,
}

impl DataTable {
    /// Reads a CSV with a header row; an empty file or a ragged row is an error at its line.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<(String, Kind)> = reader
            .headers()
            .map_err(|e| ConfigError::key(path, "(header)", e.to_string()))?
            .iter()
            .map(|h| column_kind(h).map_err(|m| ConfigError::key(path, "(header)", m)))
            .collect::<Result<_, _>>()?;
        let columns: Vec<String> = header.iter().map(|(n, _)| n.clone()).collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let line = record
                .as_ref()
                .ok()
                .and_then(|r| r.position())
                .map_or(0, |p| p.line() as usize);
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line() as usize);
                ConfigError::At {
                    path: path.to_path_buf(),
                    line,
                    column: 1,
                    message: e.to_string(),
                }
            })?;
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
        }
        if rows.is_empty() {
            return Err(ConfigError::key(
                path,
                "(rows)",
                "the data file has no rows",
            ));
        }
        Ok(DataTable { columns, rows })
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
}

/// What a column holds, from its header: `name` (the rule below), or `name:text`,
/// `name:int`, `name:float`, `name:bool`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Auto,
    Text,
    Int,
    Float,
    Bool,
}

fn column_kind(header: &str) -> Result<(String, Kind), String> {
    let Some((name, kind)) = header.rsplit_once(':') else {
        return Ok((header.to_string(), Kind::Auto));
    };
    let kind = match kind.trim() {
        "text" | "str" => Kind::Text,
        "int" => Kind::Int,
        "float" | "number" => Kind::Float,
        "bool" => Kind::Bool,
        other => {
            return Err(format!(
                "column `{header}`: unknown type `{other}` (text, int, float or bool)"
            ));
        }
    };
    Ok((name.to_string(), kind))
}

/// A CSV cell as JSON. Typed columns convert (or fail at the cell). Untyped cells become a
/// number only when it is written as a plain number: `42`, `-7`, `19.90`, `0.25`; never
/// `0012345678905` (a barcode), `007`, `+32`, `1e3` or `inf`, which stay text exactly as
/// written.
fn cell(raw: &str, kind: Kind) -> Result<Value, String> {
    match kind {
        Kind::Text => Ok(Value::from(raw)),
        Kind::Int => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{raw}` is not an integer")),
        Kind::Float => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from)
            .ok_or_else(|| format!("`{raw}` is not a number")),
        Kind::Bool => match raw.trim().to_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "" => Ok(Value::Bool(false)),
            _ => Err(format!("`{raw}` is not true or false")),
        },
        Kind::Auto => {
            if let Ok(i) = raw.parse::<i64>()
                && i.to_string() == raw
            {
                return Ok(Value::from(i));
            }
            if plain_decimal(raw)
                && let Ok(f) = raw.parse::<f64>()
            {
                return Ok(Value::from(f));
            }
            Ok(Value::from(raw))
        }
    }
}

/// `-?D.D+` with no leading zero before other digits: a price such as `19.90` or `0.25`.
fn plain_decimal(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let Some((int, frac)) = digits.split_once('.') else {
        return false;
    };
    !int.is_empty()
        && !frac.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
        && (int == "0" || !int.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_their_types() {
        let auto = |raw| cell(raw, Kind::Auto).unwrap();
        assert_eq!(auto("42"), Value::from(42));
        assert_eq!(auto("-7"), Value::from(-7));
        assert_eq!(auto("4.5"), Value::from(4.5));
        assert_eq!(auto("Blue mug"), Value::from("Blue mug"));
    }

    #[test]
    fn csv_leading_zeros_are_kept_as_text() {
        assert_eq!(cell("19.90", Kind::Auto).unwrap(), Value::from(19.9));
        for raw in [
            "0012345678905",
            "007",
            "+32",
            "1e3",
            "007.5",
            "inf",
            "NaN",
            "1.",
        ] {
            assert_eq!(cell(raw, Kind::Auto).unwrap(), Value::from(raw), "{raw}");
        }
        assert_eq!(cell("0012", Kind::Text).unwrap(), Value::from("0012"));
        assert_eq!(cell("0012", Kind::Int).unwrap(), Value::from(12));
        assert!(cell("twelve", Kind::Int).is_err());
        assert_eq!(column_kind("qty:int").unwrap(), ("qty".into(), Kind::Int));
        assert!(column_kind("qty:integer").is_err());
    }

    #[test]
    fn a_quoted_barcode_with_leading_zeros_reaches_the_row_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("barcodes.csv");
        std::fs::write(
            &path,
            "barcode,qty:int,note\n\"0012345678905\",3,x\n0012345678905,4,y\n",
        )
        .unwrap();
        let t = DataTable::read(&path).unwrap();
        assert_eq!(t.columns, ["barcode", "qty", "note"]);
        assert_eq!(t.rows[0][0], Value::from("0012345678905"));
        assert_eq!(t.rows[1][0], Value::from("0012345678905"));
        assert_eq!(t.rows[1][1], Value::from(4));
    }
}
