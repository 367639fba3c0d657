//! How the store's files are written so that a reader (MLflow's client, another mlops) never sees
//! a partial one, whenever the writer is killed, even with kill -9.
//!
//! A whole file is written to a temporary file, flushed to disk and renamed over its name. The
//! temporary file lives in a *staging* directory on the same filesystem that no reader lists as
//! data: MLflow's file store reads every file below a run's `metrics/`, `params/` and `tags/` as a
//! key (hidden ones too: an empty `metrics/.tmpXY` is "Metric '.tmpXY' is malformed"), so files
//! under those directories are staged in the run's (or model's) own directory, where MLflow reads
//! only `meta.yaml`. A metric history is never created empty (MLflow refuses an empty metric
//! file): its first line is written like a whole file, later lines are appended with one `write`
//! each, on a file opened for appending, so a line is either all there or not at all.

use std::io::Write as _;
use std::path::Path;

use super::io;
use crate::tracking::StoreError;

/// Prefix of staging files; a kill between creating and renaming one leaves it behind, named so.
pub(crate) const STAGING_PREFIX: &str = ".mlops-tmp-";

/// Writes `path` whole or not at all, staging the bytes in `path`'s own directory.
pub(crate) fn write_file(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    write_staged(path, contents, parent)
}

/// Writes `path` whole or not at all, staging the bytes in `staging` (same filesystem).
pub(crate) fn write_staged(path: &Path, contents: &[u8], staging: &Path) -> Result<(), StoreError> {
    let temp = staged(contents, path, staging)?;
    temp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// Appends one line (`line` ends with `\n`) to a metric history at `path`, creating it with that
/// line when it does not exist yet.
pub(crate) fn append_line(path: &Path, line: &str, staging: &Path) -> Result<(), StoreError> {
    debug_assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
    if !path.exists() {
        let temp = staged(line.as_bytes(), path, staging)?;
        match temp.persist_noclobber(path) {
            Ok(_) => return Ok(()),
            // Another writer created it first: append to theirs.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(path)(e.error)),
        }
    }
    let mut file = std::fs::OpenOptions::new().append(true).open(path).map_err(io(path))?;
    // One write call for the whole line: `writeln!` on a `File` issues one per formatted piece,
    // and a kill between them leaves half a line.
    file.write_all(line.as_bytes()).map_err(io(path))
}

/// Makes directory `target` appear with its contents at once: `build` fills a temporary
/// directory in `staging` (same filesystem, a directory readers do not list as data), which is
/// then renamed to `target`. For directories whose readers fail on a half-made one (MLflow's
/// registry reads every `version-*` directory's `meta.yaml`). Returns false, leaving `target`
/// as it is, when another writer made `target` first.
pub(crate) fn publish_dir(
    target: &Path,
    staging: &Path,
    build: impl FnOnce(&Path) -> Result<(), StoreError>,
) -> Result<bool, StoreError> {
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    let temp = staging_builder(Staged::Dir).tempdir_in(staging).map_err(io(staging))?;
    build(temp.path())?;
    // rename(2) replaces an empty directory (left by a writer killed before it wrote anything)
    // and refuses a non-empty one: exactly the claim wanted.
    match std::fs::rename(temp.path(), target) {
        Ok(()) => {
            let _ = temp.keep();
            Ok(true)
        }
        Err(e) if target.join("meta.yaml").exists() || e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(false),
        Err(e) => Err(io(target)(e)),
    }
}

/// Temporary files with the modes of ordinary ones (0666 and 0777 less the umask), not tempfile's
/// private 0600: other users' MLflow servers and UIs read these stores.
pub(crate) fn staging_builder(kind: Staged) -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(STAGING_PREFIX);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(match kind {
        Staged::File => 0o666,
        Staged::Dir => 0o777,
    }));
    builder
}

/// What a staging builder makes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Staged {
    File,
    Dir,
}

/// A temporary file in `staging` holding `contents`, flushed to disk.
fn staged(contents: &[u8], path: &Path, staging: &Path) -> Result<tempfile::NamedTempFile, StoreError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::create_dir_all(staging).map_err(io(staging))?;
    let mut temp = staging_builder(Staged::File).tempfile_in(staging).map_err(io(staging))?;
    temp.write_all(contents).map_err(io(temp.path()))?;
    temp.as_file().sync_all().map_err(io(temp.path()))?;
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_file_is_created_with_its_first_line_and_appended_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("metrics/a/b");
        append_line(&path, "1 2.0 0\n", dir.path()).expect("first");
        append_line(&path, "2 3.0 1\n", dir.path()).expect("second");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "1 2.0 0\n2 3.0 1\n");
        write_staged(&dir.path().join("tags/t"), b"v", dir.path()).expect("tag");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_directory_is_published_whole_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("version-1");
        // An empty directory (a writer killed before writing anything) is taken over.
        std::fs::create_dir(&target).expect("empty");
        let write = |text: &'static str| move |d: &Path| write_file(&d.join("meta.yaml"), text.as_bytes());
        assert!(publish_dir(&target, dir.path(), write("first")).expect("publish"));
        // A made one is not: the second writer is told to pick another name.
        assert!(!publish_dir(&target, dir.path(), write("second")).expect("refused"));
        assert_eq!(std::fs::read_to_string(target.join("meta.yaml")).expect("read"), "first");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["version-1"], "no staging left behind");
    }
}
