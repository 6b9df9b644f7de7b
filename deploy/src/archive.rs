//! A repository at one commit, from the archive GitHub's tarball endpoint serves (never a git
//! clone). GitHub wraps the tree in one top-level directory (`OWNER-REPO-SHA7/`), stripped here.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use thiserror::Error;

/// Limits that keep a hostile or huge archive from filling the disk.
#[derive(Clone, Copy, Debug)]
pub struct ArchiveLimits {
    pub max_total_bytes: u64,
    pub max_entries: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_total_bytes: 256 * 1024 * 1024,
            max_entries: 50_000,
        }
    }
}

#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("the repository archive is not a readable .tar.gz: {0}")]
    Corrupt(String),
    #[error("the repository archive is larger than {0} bytes unpacked")]
    TooLarge(u64),
    #[error("the repository archive has more than {0} entries")]
    TooManyEntries(usize),
    #[error("cannot unpack the repository archive: {0}")]
    Io(#[from] std::io::Error),
}

/// A source tree unpacked in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct SourceTree {
    dir: tempfile::TempDir,
}

impl SourceTree {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Unpacks a gzip'd tarball as served by `GET /repos/{o}/{r}/tarball/{ref}`. Only regular
    /// files and directories are written; links, devices and paths that would escape the tree
    /// are skipped.
    pub fn from_tar_gz(bytes: &[u8], limits: ArchiveLimits) -> Result<SourceTree, ArchiveError> {
        let dir = tempfile::Builder::new().prefix("preview-src-").tempdir()?;
        let decoder = flate2::read::GzDecoder::new(bytes);
        let mut archive = tar::Archive::new(decoder);
        let entries = archive
            .entries()
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let mut total: u64 = 0;
        for (count, entry) in entries.enumerate() {
            if count >= limits.max_entries {
                return Err(ArchiveError::TooManyEntries(limits.max_entries));
            }
            let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
            let kind = entry.header().entry_type();
            let path = entry
                .path()
                .map_err(|e| ArchiveError::Corrupt(e.to_string()))?
                .into_owned();
            let Some(relative) = strip_top_level(&path) else {
                continue;
            };
            let target = dir.path().join(&relative);
            if kind.is_dir() {
                std::fs::create_dir_all(&target)?;
            } else if kind.is_file() {
                total = total.saturating_add(entry.header().size().unwrap_or(0));
                if total > limits.max_total_bytes {
                    return Err(ArchiveError::TooLarge(limits.max_total_bytes));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut contents = Vec::new();
                entry
                    .by_ref()
                    .take(limits.max_total_bytes)
                    .read_to_end(&mut contents)
                    .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
                std::fs::write(&target, contents)?;
            }
        }
        Ok(SourceTree { dir })
    }

    /// A local checkout used as-is (try-out mode, `render --repo-dir`): copied so the caller's
    /// directory is never modified.
    pub fn from_dir(source: &Path) -> Result<SourceTree, ArchiveError> {
        let dir = tempfile::Builder::new().prefix("preview-src-").tempdir()?;
        copy_tree(source, dir.path())?;
        Ok(SourceTree { dir })
    }
}

/// Drops GitHub's single top-level directory and refuses anything that is not a plain relative
/// path (`..`, absolute paths, Windows prefixes).
fn strip_top_level(path: &Path) -> Option<PathBuf> {
    let mut components = path.components();
    match components.next() {
        Some(Component::Normal(_)) => {}
        _ => return None,
    }
    let mut out = PathBuf::new();
    for component in components {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // Written raw so that hostile names like `../x` reach the unpacker.
            let name = header.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        let tar = builder.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).expect("gzip");
        gz.finish().expect("gzip")
    }

    #[test]
    fn unpacks_and_strips_the_top_level_directory() {
        let bytes = tar_gz(&[
            ("acme-collect-abc1234/deploy/app.yaml", b"kind: x"),
            ("acme-collect-abc1234/README.md", b"hi"),
        ]);
        let tree = SourceTree::from_tar_gz(&bytes, ArchiveLimits::default()).expect("unpack");
        let text = std::fs::read_to_string(tree.root().join("deploy/app.yaml")).expect("file");
        assert_eq!(text, "kind: x");
    }

    #[test]
    fn refuses_escaping_paths_and_limits_size() {
        let bytes = tar_gz(&[("top/../../escape.txt", b"x"), ("top/ok.txt", b"y")]);
        let tree = SourceTree::from_tar_gz(&bytes, ArchiveLimits::default()).expect("unpack");
        assert!(!tree.root().join("../escape.txt").exists());
        assert!(tree.root().join("ok.txt").exists());

        let big = tar_gz(&[("top/big", &[0u8; 2048])]);
        let limits = ArchiveLimits {
            max_total_bytes: 1024,
            max_entries: 10,
        };
        assert!(matches!(
            SourceTree::from_tar_gz(&big, limits),
            Err(ArchiveError::TooLarge(_))
        ));
        assert!(matches!(
            SourceTree::from_tar_gz(b"not a tarball", ArchiveLimits::default()),
            Err(ArchiveError::Corrupt(_))
        ));
    }
}
