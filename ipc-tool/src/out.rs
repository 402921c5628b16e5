//! Output: escaping what comes from shared memory, writing to stdout/stderr without
//! panicking on a closed pipe, tables, and JSON.
//!
//! Names, type names, schemas and messages come from objects anyone may write: control
//! characters in them are written as escapes (`\u{1b}`), so they cannot send escape
//! sequences to the terminal or forge lines of a table. JSON output is escaped by
//! `serde_json` (control characters become `\u001b`).

use std::fmt::Write as _;
use std::io::Write as _;

/// The version of the JSON documents (`"version"` in each); see `docs/ipc-json.md`.
pub const JSON_VERSION: u32 = 1;

/// `text` with its control characters written as escapes, all of them or all but the
/// newline.
pub fn escape_controls(text: &str, keep_newlines: bool) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && !(keep_newlines && c == '\n') {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `text` with every control character escaped, the newline too: for a name, type name,
/// schema or reason embedded in a line of output, so it cannot start a line of its own.
pub fn esc(text: &str) -> String {
    escape_controls(text, false)
}

/// Writes `text` to stdout, control characters other than the newline escaped. A closed
/// pipe (`ipc ls | head -1`) or a full disk is not worth a panic: the output is cut.
pub fn emit(text: &str) {
    emit_raw(escape_controls(text, true).as_bytes());
}

/// Writes `bytes` to stdout as they are (for `shm cat` and `--raw` output).
pub fn emit_raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// Writes `text` to stderr as [`emit`] does to stdout.
pub fn err(text: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(escape_controls(text, true).as_bytes());
}

/// Writes a JSON document (one line) to stdout.
pub fn emit_json(v: &serde_json::Value) {
    // serde_json escapes every control character, so the line is safe as it is.
    emit_raw(format!("{v}\n").as_bytes());
}

/// Lays out `rows` (the first is the header) as left-aligned columns; every cell has its
/// control characters escaped (a newline in a name would otherwise start a forged row).
pub fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape_controls(c, false)).collect())
        .collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
