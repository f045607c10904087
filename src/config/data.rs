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
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| ConfigError::key(path, "(header)", e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line() as usize);
                ConfigError::At {
                    path: path.to_path_buf(),
                    line,
                    column: 1,
                    message: e.to_string(),
                }
            })?;
            rows.push(record.iter().map(cell).collect());
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

/// A CSV cell as JSON: integers and decimals become numbers, everything else a string.
fn cell(raw: &str) -> Value {
    if let Ok(i) = raw.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = raw.parse::<f64>()
        && f.is_finite()
    {
        return Value::from(f);
    }
    Value::from(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_their_types() {
        assert_eq!(cell("42"), Value::from(42));
        assert_eq!(cell("4.5"), Value::from(4.5));
        assert_eq!(cell("Blue mug"), Value::from("Blue mug"));
    }
}
