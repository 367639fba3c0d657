//! Reproducible layers: a tar whose entries are sorted by path, owned by 0:0, with a fixed
//! mtime and normalised modes, gzip-compressed at a fixed level with no timestamp or file name
//! in the gzip header. The same files give the same bytes, so the same digests.

use std::collections::BTreeMap;
use std::io::Write;

use bytes::Bytes;
use flate2::{Compression, GzBuilder};
use sha2::{Digest as _, Sha256};

use crate::oci::Digest;

/// gzip level of every layer: changing it changes every digest, so it is fixed, not tunable.
const GZIP_LEVEL: u32 = 6;
/// The one modification time of every entry (the Unix epoch, as `ko` and `jib` write).
const MTIME: u64 = 0;

enum Entry {
    Dir { mode: u32 },
    File { data: Bytes, mode: u32 },
}

/// The files of one layer, by path inside the image (no leading `/`).
#[derive(Default)]
pub struct LayerBuilder {
    entries: BTreeMap<String, Entry>,
}

/// A finished layer.
#[derive(Debug, Clone)]
pub struct Layer {
    pub compressed: Bytes,
    /// Digest of the compressed bytes (the blob).
    pub digest: Digest,
    /// Digest of the uncompressed tar (the config's `diff_ids`).
    pub diff_id: Digest,
}

impl LayerBuilder {
    /// A directory (its parents are added too).
    pub fn dir(&mut self, path: &str, mode: u32) {
        self.parents(path);
        self.entries.insert(format!("{}/", path.trim_matches('/')), Entry::Dir { mode });
    }

    /// A regular file (its parent directories are added with mode 0755).
    pub fn file(&mut self, path: &str, data: impl Into<Bytes>, mode: u32) {
        self.parents(path);
        self.entries.insert(path.trim_matches('/').to_string(), Entry::File { data: data.into(), mode });
    }

    fn parents(&mut self, path: &str) {
        let path = path.trim_matches('/');
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            end += i;
            self.entries.entry(format!("{}/", &path[..end])).or_insert(Entry::Dir { mode: 0o755 });
            end += 1;
        }
    }

    /// The tar and its gzip, with their digests.
    pub fn build(self) -> std::io::Result<Layer> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, entry) in &self.entries {
            let mut header = tar::Header::new_ustar();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(MTIME);
            match entry {
                Entry::Dir { mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    tar.append_data(&mut header, path, std::io::empty())?;
                }
                Entry::File { data, mode } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(data.len() as u64);
                    tar.append_data(&mut header, path, &data[..])?;
                }
            }
        }
        let tar = tar.into_inner()?;
        let diff_id = Digest::from_hasher(Sha256::new_with_prefix(&tar));
        // No file name and mtime 0 in the gzip header; the OS byte is fixed to 255 ("unknown")
        // so the bytes do not depend on the machine that built them.
        let mut gz = GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::new(GZIP_LEVEL));
        gz.write_all(&tar)?;
        let compressed = Bytes::from(gz.finish()?);
        Ok(Layer { digest: Digest::of(&compressed), diff_id, compressed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LayerBuilder {
        let mut b = LayerBuilder::default();
        b.file("usr/local/bin/tool", b"#!/bin/true\n".to_vec(), 0o755);
        b.file("etc/passwd", b"root:x:0:0::/:\n".to_vec(), 0o644);
        b.dir("tmp", 0o1777);
        b
    }

    #[test]
    fn same_files_give_the_same_digests() {
        let a = sample().build().expect("layer");
        let b = sample().build().expect("layer");
        assert_eq!((a.digest.clone(), a.diff_id.clone()), (b.digest, b.diff_id));
        // gzip header: magic, deflate, no flags (no name), mtime 0, OS 255.
        assert_eq!(&a.compressed[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn entries_are_sorted_with_parents_first_and_owned_by_root() {
        let layer = sample().build().expect("layer");
        let tar_bytes = {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&layer.compressed[..]), &mut out)
                .expect("gunzip");
            out
        };
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let h = entry.header();
            assert_eq!((h.uid().ok(), h.gid().ok(), h.mtime().ok()), (Some(0), Some(0), Some(0)));
            seen.push((entry.path().expect("path").display().to_string(), h.mode().expect("mode")));
        }
        let expected = [
            ("etc/", 0o755),
            ("etc/passwd", 0o644),
            ("tmp/", 0o1777),
            ("usr/", 0o755),
            ("usr/local/", 0o755),
            ("usr/local/bin/", 0o755),
            ("usr/local/bin/tool", 0o755),
        ];
        let expected: Vec<(String, u32)> = expected.iter().map(|(p, m)| (p.to_string(), *m)).collect();
        assert_eq!(seen, expected);
    }
}
