//! Whether a RUNNING run still has a live writer. The process that creates a run holds an
//! exclusive lock on `<run>/.mlops-running.lock` until it ends the run; the kernel releases the
//! lock when that process dies, kill -9 included, so a RUNNING run whose lock can be taken was
//! abandoned, and one without the file (an older mlops, MLflow's own client) is left alone.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::io;
use crate::tracking::StoreError;

const LOCK_FILE: &str = ".mlops-running.lock";

/// Locks this process holds, by file. Process-wide, not per `LocalStore`: a run may be created
/// through one store value and ended through another; dropping the `File` releases the lock.
static HELD: Mutex<Option<HashMap<PathBuf, File>>> = Mutex::new(None);

/// Takes the run's lock for this process, until [`release`] or the process's end.
pub(super) fn hold(run_dir: &Path) -> Result<(), StoreError> {
    let path = run_dir.join(LOCK_FILE);
    let file = File::create(&path).map_err(io(&path))?;
    // A fresh run directory: nobody else can hold this lock, so a refusal is an I/O problem.
    fs4::FileExt::try_lock(&file).map_err(|e| io(&path)(std::io::Error::other(e.to_string())))?;
    HELD.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_default().insert(path, file);
    Ok(())
}

/// Releases the run's lock (after its final status is written) and removes the file.
pub(super) fn release(run_dir: &Path) {
    let path = run_dir.join(LOCK_FILE);
    let held = HELD.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert_default().remove(&path);
    drop(held);
    // Best effort: a leftover file only makes a later check take a free lock on an ended run.
    let _ = std::fs::remove_file(&path);
}

/// The run's lock, taken, when the process that held it is gone; `None` while it is alive (in
/// this process or another) or when the run has no lock file.
pub(super) fn abandoned(run_dir: &Path) -> Result<Option<File>, StoreError> {
    let path = run_dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(Some(file)),
        Err(fs4::TryLockError::WouldBlock) => Ok(None),
        Err(fs4::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

/// Removes the lock file of an abandoned run once it is ended (the lock goes with `guard`).
pub(super) fn discard(run_dir: &Path, guard: File) {
    drop(guard);
    let _ = std::fs::remove_file(run_dir.join(LOCK_FILE));
}

/// When anything in the run's directory was last written, in milliseconds since the epoch.
pub(super) fn last_write(run_dir: &Path) -> Option<i64> {
    let mut latest = None;
    let mut pending = vec![run_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if entry.file_name() != LOCK_FILE
                && let Ok(modified) = meta.modified()
            {
                let millis = chrono::DateTime::<chrono::Utc>::from(modified).timestamp_millis();
                latest = latest.max(Some(millis));
            }
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_free_once_its_holder_lets_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(abandoned(dir.path()).expect("no file").is_none(), "no lock file: not ours to judge");
        hold(dir.path()).expect("hold");
        assert!(abandoned(dir.path()).expect("held").is_none(), "a live holder keeps it");
        // What the kernel does when the holder dies: the descriptor closes, the file stays.
        let held = HELD
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_default()
            .remove(&dir.path().join(LOCK_FILE));
        drop(held);
        let guard = abandoned(dir.path()).expect("free").expect("abandoned");
        discard(dir.path(), guard);
        assert!(!dir.path().join(LOCK_FILE).exists());
    }
}
