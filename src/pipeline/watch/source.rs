//! Where a watch looks for data files: a local directory (its files, not subdirectories) or a
//! blob container (every blob under a prefix). Each listing entry carries a fingerprint that
//! changes when the content may have changed: size and modification time, or the blob's ETag.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::WatchError;
use crate::azure::blob::BlobContainerClient;
use crate::data::datastore::{LocationFlags, container_client, without_query};
use crate::secret::Secret;

/// A data source.
#[derive(Debug)]
pub enum Source {
    Dir(PathBuf),
    Blob { client: BlobContainerClient, prefix: String },
}

/// One data file of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File name in the directory, or blob name.
    pub name: String,
    pub fingerprint: String,
    /// Modification time (seconds since the epoch): files are taken oldest first.
    pub modified: i64,
}

impl Source {
    /// A directory, or `blob:CONTAINER` / a container URL (with a connection string or SAS).
    pub fn parse(
        text: &str,
        prefix: Option<&str>,
        connection_string: Option<&Secret>,
        sas: Option<&Secret>,
    ) -> Result<Self, WatchError> {
        let is_blob = text.starts_with("blob:") || text.starts_with("https://") || text.starts_with("http://");
        if !is_blob {
            if prefix.is_some() {
                return Err(WatchError::Setup("--prefix applies to blob container sources only".to_string()));
            }
            let dir = PathBuf::from(text);
            return match std::fs::metadata(&dir) {
                Ok(meta) if meta.is_dir() => Ok(Source::Dir(dir)),
                Ok(_) => Err(WatchError::Read {
                    path: dir,
                    source: std::io::Error::other("not a directory (--source is a directory or a blob container)"),
                }),
                Err(source) => Err(WatchError::Read { path: dir, source }),
            };
        }
        let flags = LocationFlags { sas: "--source-sas or MLOPS_WATCH_SOURCE_SAS" };
        let client = container_client(text, connection_string, sas, &flags)
            .map_err(|message| WatchError::Setup(format!("invalid --source {:?}: {message}", without_query(text))))?;
        Ok(Source::Blob { client, prefix: prefix.unwrap_or_default().to_string() })
    }

    /// How the source is shown: the directory, or the container URL and prefix (never a SAS).
    pub fn describe(&self) -> String {
        match self {
            Source::Dir(dir) => dir.display().to_string(),
            Source::Blob { client, prefix } => format!("{}/{prefix}", client.url().trim_end_matches('/')),
        }
    }

    /// Where an entry's content came from, as the dataset version records it.
    pub fn location(&self, entry: &Entry) -> String {
        match self {
            Source::Dir(dir) => {
                let path = dir.join(&entry.name);
                std::path::absolute(&path).unwrap_or(path).display().to_string()
            }
            Source::Blob { client, .. } => format!("{}/{}", client.url().trim_end_matches('/'), entry.name),
        }
    }

    /// The data files whose name matches `pattern`, oldest first.
    pub async fn list(&self, pattern: &str) -> Result<Vec<Entry>, WatchError> {
        let mut entries = match self {
            Source::Dir(dir) => list_dir(dir)?,
            Source::Blob { client, prefix } => {
                let source = |e| WatchError::Blob { source: self.describe(), error: Box::new(e) };
                client
                    .list_blobs(prefix)
                    .await
                    .map_err(source)?
                    .into_iter()
                    .map(|b| Entry {
                        modified: chrono::DateTime::parse_from_rfc2822(&b.last_modified).map_or(0, |t| t.timestamp()),
                        fingerprint: format!("{}:{}", b.size, b.etag),
                        name: b.name,
                    })
                    .collect()
            }
        };
        entries.retain(|e| {
            let base = e.name.rsplit('/').next().unwrap_or(&e.name);
            wildcard_match(pattern, base) && !is_temporary(base)
        });
        entries.sort_by(|a, b| a.modified.cmp(&b.modified).then_with(|| a.name.cmp(&b.name)));
        Ok(entries)
    }

    /// An entry's content, or `None` when it changed or vanished while being read (a writer is
    /// still at work; the next poll sees it again).
    pub async fn read(&self, entry: &Entry) -> Result<Option<Bytes>, WatchError> {
        match self {
            Source::Dir(dir) => {
                let path = dir.join(&entry.name);
                let bytes = match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => return Err(WatchError::Read { path, source }),
                };
                let after = std::fs::metadata(&path).ok().map(|m| fingerprint(&m));
                Ok((after.as_deref() == Some(entry.fingerprint.as_str())).then(|| Bytes::from(bytes)))
            }
            Source::Blob { client, .. } => match client.download(&entry.name).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(crate::azure::blob::BlobError::Http(err)) if err.status == Some(404) => Ok(None),
                Err(e) => Err(WatchError::Blob { source: self.describe(), error: Box::new(e) }),
            },
        }
    }
}

fn list_dir(dir: &Path) -> Result<Vec<Entry>, WatchError> {
    let read_error = |source| WatchError::Read { path: dir.to_path_buf(), source };
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir).map_err(read_error)? {
        let item = item.map_err(read_error)?;
        let Ok(meta) = item.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
        entries.push(Entry {
            name: item.file_name().to_string_lossy().into_owned(),
            fingerprint: fingerprint(&meta),
            modified: i64::try_from(modified).unwrap_or(i64::MAX),
        });
    }
    Ok(entries)
}

fn fingerprint(meta: &std::fs::Metadata) -> String {
    let nanos = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    format!("{}:{nanos}", meta.len())
}

/// Files writers use while writing, which must not be taken half-written.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') || [".tmp", ".part", ".partial", ".crdownload", "~"].iter().any(|s| name.ends_with(s))
}

/// Shell-style match of a whole name: `*` any run of characters, `?` one character.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.csv", "a.csv"));
        assert!(wildcard_match("*.csv", ".csv"));
        assert!(!wildcard_match("*.csv", "a.csv.bak"));
        assert!(wildcard_match("data-??.csv", "data-01.csv"));
        assert!(!wildcard_match("data-??.csv", "data-1.csv"));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
        assert!(!wildcard_match("a*b*c", "aXbYbZ"));
    }

    #[tokio::test]
    async fn directory_listing_skips_temporary_files_and_subdirectories() {
        let dir = tempfile::tempdir().expect("dir");
        for name in ["b.csv", "a.csv", ".hidden.csv", "c.csv.tmp", "notes.txt"] {
            std::fs::write(dir.path().join(name), "x\n1\n").expect("write");
        }
        std::fs::create_dir(dir.path().join("sub.csv")).expect("mkdir");
        let source = Source::Dir(dir.path().to_path_buf());
        let mut names: Vec<String> = source.list("*.csv").await.expect("list").into_iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, ["a.csv", "b.csv"]);
        let entry = source.list("a.csv").await.expect("list").remove(0);
        assert_eq!(source.read(&entry).await.expect("read").as_deref(), Some(&b"x\n1\n"[..]));
        std::fs::write(dir.path().join("a.csv"), "x\n1\n2\n").expect("rewrite");
        assert_eq!(source.read(&entry).await.expect("read"), None, "changed since listed");
    }
}
