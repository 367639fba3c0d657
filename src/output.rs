//! Where results go: data to stdout as text or JSON, people-facing notes to stderr. Everything
//! written here passes through [`crate::secret::mask`] first.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::secret::mask;

/// The format of a command's result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document with a stable shape.
    Json,
}

/// Writes a command's result: `text` renders it for people, JSON mode serialises `value`.
///
/// A closed stdout (`mlops … | head`) is not an error: the reader has what it wanted.
pub fn emit<T: Serialize>(format: Format, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    write_result(&mask(&render(format, value, text)?))
}

/// Writes a result that is itself a secret the user asked for (`mlops endpoint keys`): the one
/// output that is not masked, since masking would print `***` in place of what was requested.
pub fn emit_requested_secret<T: Serialize>(
    format: Format,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    write_result(&render(format, value, text)?)
}

/// The result as pretty JSON or as `text` renders it, ending in a newline.
fn render<T: Serialize>(format: Format, value: &T, text: impl FnOnce() -> String) -> serde_json::Result<String> {
    let mut rendered = match format {
        Format::Json => serde_json::to_string_pretty(value)?,
        Format::Text => text(),
    };
    if !rendered.ends_with('\n') {
        rendered.push('\n');
    }
    Ok(rendered)
}

fn write_result(rendered: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(rendered.as_bytes()).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes one result of a stream as a line: compact JSON, or the text `text` renders.
pub fn emit_line<T: Serialize>(format: Format, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    let write = || -> std::io::Result<()> {
        let line = match format {
            Format::Json => serde_json::to_string(value)?,
            Format::Text => text().trim_end().to_string(),
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", mask(&line))?;
        stdout.flush()
    };
    match write() {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// A note for the person at the terminal (stderr); silenced by `-q`.
pub fn note(quiet: bool, message: impl AsRef<str>) {
    if !quiet {
        to_stderr(message);
    }
}

/// One [`note`] a line for each item (a compiler's warnings, which carry their own prefix).
pub fn note_each<T: std::fmt::Display>(quiet: bool, items: &[T]) {
    for item in items {
        note(quiet, item.to_string());
    }
}

/// Writes one message and a newline to stderr, masked. A closed stderr is ignored.
pub fn to_stderr(message: impl AsRef<str>) {
    let _ = writeln!(std::io::stderr().lock(), "{}", mask(message.as_ref()));
}

/// Writes text to stderr as it is (no newline added), masked: a prompt, a rendered block.
pub fn to_stderr_raw(text: impl AsRef<str>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(mask(text.as_ref()).as_bytes());
    let _ = stderr.flush();
}

/// Passes one line a child process wrote on stderr through to ours (a pipeline step's, which the
/// runner reads to keep a tail). A closed stderr is not worth failing the step for.
pub fn echo_stderr(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", mask(line));
}

/// Whether stderr may carry colour: a terminal, and `NO_COLOR` unset or empty.
pub fn stderr_color() -> bool {
    let no_color = std::env::var_os(crate::env_vars::NO_COLOR).is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// Renders rows as a left-aligned table with a header, two spaces between columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![vec!["a".to_string(), "long value".to_string()], vec!["bbb".to_string(), "x".to_string()]];
        assert_eq!(table(&["K", "V"], &rows), "K    V\na    long value\nbbb  x\n");
    }
}
