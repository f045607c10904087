//! Errors found while reading profiles, scenarios and data files.
//!
//! Every message names the file and, where the parser knows it, the line and column, or
//! the key that is wrong, so a user can go straight to the mistake.

use std::path::{Path, PathBuf};

/// What went wrong in a file a user wrote.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but is wrong at a known place.
    #[error("{}:{line}:{column}: {message}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file parsed, but a key holds a value that cannot be used.
    #[error("{}: `{key}`: {message}", path.display())]
    Key {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A command-line flag's value cannot be used.
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
}

impl ConfigError {
    /// An error at a byte offset of `source`, turned into a 1-based line and column.
    pub fn at(path: &Path, source: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_col(source, offset);
        ConfigError::At {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error about a key, for values that have no position (merged or defaulted).
    pub fn key(path: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Key {
            path: path.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// A TOML parse or shape error, located where the parser says.
    pub fn toml(path: &Path, source: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim().to_string();
        match err.span() {
            Some(span) => ConfigError::at(path, source, span.start, message),
            None => ConfigError::key(path, "(document)", message),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_columns() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }
}
