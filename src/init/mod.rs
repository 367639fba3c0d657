//! `mlops init`: a new, working project named after NAME — settings, sample data and its profile,
//! parameters, the pipeline, the Azure environment and CI definitions (see `templates`).
//!
//! Existing files are never overwritten without `force`: a second run writes nothing and says so.
//! Files are written atomically (temporary file, then rename).

mod names;
mod templates;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error_kind::{ErrorKind, HasKind};

pub use names::ProjectNames;
pub use templates::{Drift, File};

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("invalid project name {name:?}: {rule}")]
    Name { name: String, rule: String },
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Drift(#[from] Drift),
}

impl HasKind for InitError {
    fn kind(&self) -> ErrorKind {
        match self {
            InitError::Name { .. } => ErrorKind::Usage,
            InitError::NotADirectory { .. } => ErrorKind::Input,
            InitError::Write { .. } | InitError::Drift(_) => ErrorKind::Internal,
        }
    }
}

/// What happens (or, with a dry run, would happen) to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// It did not exist.
    Create,
    /// It exists with exactly this content.
    Unchanged,
    /// It exists with other content and is left alone (no `--force`).
    Keep,
    /// It exists with other content and is replaced (`--force`).
    Overwrite,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: String,
    pub action: Action,
}

/// The result of `mlops init`, in the stable shape of `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub dir: String,
    pub names: ProjectNames,
    pub dry_run: bool,
    pub files: Vec<FileOutcome>,
    /// Files created or overwritten (or that would be, with a dry run).
    pub written: usize,
}

/// Writes the project named `name` into `dir` (created if missing).
pub fn init(dir: &Path, name: &str, force: bool, dry_run: bool) -> Result<InitReport, InitError> {
    let names = ProjectNames::from_name(name)?;
    let files = templates::render(&names)?;
    if dir.exists() && !dir.is_dir() {
        return Err(InitError::NotADirectory { path: dir.to_path_buf() });
    }
    let mut outcomes = Vec::new();
    for file in &files {
        let path = dir.join(&file.path);
        let action = match std::fs::read(&path) {
            Err(_) if !path.exists() => Action::Create,
            Ok(existing) if existing == file.contents.as_bytes() => Action::Unchanged,
            _ if force => Action::Overwrite,
            _ => Action::Keep,
        };
        if !dry_run && matches!(action, Action::Create | Action::Overwrite) {
            write_atomically(&path, file.contents.as_bytes())?;
        }
        outcomes.push(FileOutcome { path: file.path.clone(), action });
    }
    let written = outcomes.iter().filter(|o| matches!(o.action, Action::Create | Action::Overwrite)).count();
    Ok(InitReport { dir: dir.display().to_string(), names, dry_run, files: outcomes, written })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), InitError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Write { path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = dir.join(format!(".{name}.{}.part", std::process::id()));
    std::fs::write(&partial, bytes).map_err(io(&partial))?;
    std::fs::rename(&partial, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overwrites_without_force_and_a_dry_run_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path().join("proj");
        let dry = init(&root, "churn", false, true).expect("dry run");
        assert!(dry.files.iter().all(|f| f.action == Action::Create));
        assert!(!root.exists(), "a dry run writes nothing");

        let first = init(&root, "churn", false, false).expect("init");
        assert_eq!(first.written, first.files.len());
        let toml = root.join("mlops.toml");
        std::fs::write(&toml, "# mine\n").expect("edit");
        let second = init(&root, "churn", false, false).expect("again");
        assert_eq!(second.written, 0);
        assert_eq!(second.files.iter().find(|f| f.path == "mlops.toml").map(|f| f.action), Some(Action::Keep));
        assert_eq!(std::fs::read_to_string(&toml).expect("toml"), "# mine\n");
        assert!(second.files.iter().filter(|f| f.path != "mlops.toml").all(|f| f.action == Action::Unchanged));

        let forced = init(&root, "churn", true, false).expect("force");
        assert_eq!(forced.written, 1);
        assert!(std::fs::read_to_string(&toml).expect("toml").contains("experiment = \"churn\""));
        assert!(
            std::fs::read_dir(&root).expect("dir").all(|e| !e
                .expect("e")
                .file_name()
                .to_string_lossy()
                .ends_with(".part"))
        );
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").expect("write");
        assert!(matches!(init(&file, "churn", false, false), Err(InitError::NotADirectory { .. })));
    }
}
