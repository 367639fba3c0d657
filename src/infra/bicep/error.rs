//! Compile errors: what went wrong, where (file:line:column) and a caret excerpt of the line.

use crate::error_kind::HasKind;
use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of problem stopped the compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not valid Bicep syntax.
    Syntax,
    /// A name that is not declared.
    Undefined,
    /// A name declared twice.
    Duplicate,
    /// Declarations that depend on each other in a cycle.
    Cycle,
    /// A value of the wrong type, or a call with the wrong arguments.
    Type,
    /// Anything else the official compiler rejects.
    Invalid,
    /// Valid Bicep outside the subset this compiler implements; the message names the feature.
    Unsupported,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Undefined => "undefined symbol",
            ErrorKind::Duplicate => "duplicate name",
            ErrorKind::Cycle => "cycle",
            ErrorKind::Type => "type error",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

/// A diagnostic located in a source file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub kind: ErrorKind,
    pub message: String,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The source line and a caret line under the offending text.
    pub excerpt: String,
}

/// Something `bicep build` warns about: the template is still written, and the user is told.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Warning {
    /// The official compiler's code for the same warning (`BCP081`), for looking it up.
    pub code: &'static str,
    pub message: String,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: warning {}: {}", self.file.display(), self.line, self.column, self.code, self.message)
    }
}

/// A [`Warning`] found inside one file, before it is given the file's name and text.
#[derive(Debug, Clone)]
pub struct Hint {
    pub code: &'static str,
    pub span: Span,
    pub message: String,
}

impl Hint {
    /// Attaches the file name and the line and column of the span.
    pub fn locate(self, path: &Path, text: &str) -> Warning {
        let (line, column, _) = excerpt(text, self.span);
        Warning { code: self.code, message: self.message, file: path.to_path_buf(), line, column }
    }
}

/// Why a Bicep file did not compile.
#[derive(Debug, thiserror::Error)]
pub enum BicepError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bicep files are UTF-8; the official compiler does not guess another encoding either.
    #[error("{}:{line}:{column}: {message}", path.display())]
    NotUtf8 { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{0}")]
    Diagnostic(Box<Diagnostic>),
}

impl HasKind for BicepError {
    fn kind(&self) -> crate::error_kind::ErrorKind {
        crate::error_kind::ErrorKind::Input
    }
}

impl BicepError {
    /// The diagnostic's kind; `None` for I/O failures.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            BicepError::Io { .. } | BicepError::NotUtf8 { .. } => None,
            BicepError::Diagnostic(d) => Some(d.kind),
        }
    }

    /// The diagnostic, when the error has a source location.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            BicepError::Io { .. } | BicepError::NotUtf8 { .. } => None,
            BicepError::Diagnostic(d) => Some(d),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A refusal is not a mistake in the file, so it gets no caret: one line that scripts can
        // match, naming the feature and where it is first used.
        if self.kind == ErrorKind::Unsupported {
            return write!(f, "unsupported: {} at {}:{}:{}", self.message, self.file.display(), self.line, self.column);
        }
        write!(
            f,
            "{}:{}:{}: {}: {}\n{}",
            self.file.display(),
            self.line,
            self.column,
            self.kind.label(),
            self.message,
            self.excerpt
        )
    }
}

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A problem found inside one file, before it is given the file's name and text.
#[derive(Debug)]
pub enum Diag {
    At {
        kind: ErrorKind,
        span: Span,
        message: String,
    },
    /// A complete error from another file (a module).
    Done(BicepError),
}

impl Diag {
    pub fn new(kind: ErrorKind, span: Span, message: impl Into<String>) -> Self {
        Diag::At { kind, span, message: message.into() }
    }

    /// Valid Bicep this compiler does not implement; `feature` names it as a user would look it up.
    pub fn unsupported(span: Span, feature: &str) -> Self {
        Diag::new(ErrorKind::Unsupported, span, feature)
    }

    /// A name declared twice in one scope; `what` says what it names ("the parameter 'a'").
    pub fn declared_twice(span: Span, what: impl std::fmt::Display) -> Self {
        Diag::new(ErrorKind::Duplicate, span, format!("{what} is declared more than once"))
    }

    /// Attaches the file name and source text.
    pub fn locate(self, path: &Path, text: &str) -> BicepError {
        match self {
            Diag::Done(err) => err,
            Diag::At { kind, span, message } => {
                let (line, column, excerpt) = excerpt(text, span);
                BicepError::Diagnostic(Box::new(Diagnostic {
                    kind,
                    message,
                    file: path.to_path_buf(),
                    line,
                    column,
                    excerpt,
                }))
            }
        }
    }
}

pub type DResult<T> = Result<T, Diag>;

/// How many characters of the line an excerpt shows on either side of the error's start: a
/// one-line file of 100,000 characters must not become a 100,000-character message.
const EXCERPT_SIDE: usize = 100;

/// Line and column (1-based, columns in characters) of `span.start`, with a caret excerpt of at
/// most 2 × [`EXCERPT_SIDE`] characters of the line (`…` marks what is cut).
fn excerpt(text: &str, span: Span) -> (usize, usize, String) {
    let start = floor_char(text, span.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let before: Vec<char> = text[line_start..start].chars().collect();
    let column = before.len() + 1;
    let skip = before.len().saturating_sub(EXCERPT_SIDE);
    let rest = text[start..line_end].trim_end_matches('\r');
    let after: String = rest.chars().take(EXCERPT_SIDE).collect();
    let (lead, trail) = (if skip > 0 { "…" } else { "" }, if after.len() < rest.len() { "…" } else { "" });
    let shown_before: String = before[skip..].iter().collect();
    let end = floor_char(text, span.end.clamp(start, line_end.max(start)));
    let width = text[start..end].chars().count().clamp(1, after.chars().count().max(1));
    let gutter = format!("{line_no} | ");
    let pad: String = lead.chars().chain(shown_before.chars()).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let excerpt =
        format!("{gutter}{lead}{shown_before}{after}{trail}\n{}{pad}{}", " ".repeat(gutter.len()), "^".repeat(width));
    (line_no, column, excerpt)
}

fn floor_char(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_points_at_the_column() {
        let text = "param a string\nvar b = c\n";
        let start = text.find('c').unwrap_or(0);
        let err =
            Diag::new(ErrorKind::Undefined, Span::new(start, start + 1), "no c").locate(Path::new("x.bicep"), text);
        let d = err.diagnostic().expect("diagnostic");
        assert_eq!((d.line, d.column), (2, 9));
        assert_eq!(d.excerpt, "2 | var b = c\n            ^");
        assert!(err.to_string().starts_with("x.bicep:2:9: undefined symbol: no c"));
    }

    #[test]
    fn excerpts_of_long_lines_are_cut_around_the_column() {
        let text = format!("var a = {}x{}\n", "1 + ".repeat(10_000), " + 1".repeat(10_000));
        let start = text.find('x').unwrap_or(0);
        let err =
            Diag::new(ErrorKind::Undefined, Span::new(start, text.len()), "no x").locate(Path::new("x.bicep"), &text);
        let d = err.diagnostic().expect("diagnostic");
        assert_eq!(d.column, start + 1);
        let lines: Vec<&str> = d.excerpt.lines().collect();
        assert!(lines[0].starts_with("1 | …") && lines[0].ends_with('…'), "{}", lines[0]);
        assert!(lines[0].chars().count() < 2 * EXCERPT_SIDE + 10, "{}", lines[0]);
        // The caret stands under the `x`.
        let caret = lines[1].find('^').expect("caret");
        assert_eq!(lines[0].chars().nth(caret), Some('x'), "{}", d.excerpt);
    }
}
