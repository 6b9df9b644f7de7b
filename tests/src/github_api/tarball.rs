//! Source tarballs shaped like GitHub's `legacy.tar.gz` archives.

use super::TreeFile;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::BTreeSet;
use std::path::Path;

/// Reads every file under `dir` (skipping `.git`), with `/`-separated relative paths.
pub(crate) fn read_dir_tree(dir: &Path) -> std::io::Result<Vec<TreeFile>> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<TreeFile>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            walk(root, &path, files)?;
        } else if meta.is_file() {
            let rel = path
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push(TreeFile {
                path: rel,
                contents: std::fs::read(&path)?,
                executable: is_executable(&meta),
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// A gzip tarball whose single top-level directory is `prefix/`, holding `files` (with
/// directory entries, like GitHub), optionally led by a `pax_global_header` carrying
/// `comment=<sha>` as GitHub's archives are.
pub(crate) fn build(
    prefix: &str,
    sha: &str,
    files: &[TreeFile],
    pax_header: bool,
) -> std::io::Result<Vec<u8>> {
    let encoder = GzEncoder::new(Vec::new(), Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    if pax_header {
        let record = pax_record("comment", sha);
        let mut header = tar::Header::new_ustar();
        header.set_path("pax_global_header")?;
        header.set_entry_type(tar::EntryType::XGlobalHeader);
        header.set_size(record.len() as u64);
        header.set_mode(0o666);
        header.set_cksum();
        builder.append(&header, record.as_bytes())?;
    }
    let mut dirs = BTreeSet::new();
    dirs.insert(String::new());
    for file in files {
        let mut parts: Vec<&str> = file.path.split('/').collect();
        parts.pop();
        let mut acc = String::new();
        for part in parts {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            dirs.insert(acc.clone());
        }
    }
    for dir in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o775);
        header.set_size(0);
        let path = if dir.is_empty() {
            format!("{prefix}/")
        } else {
            format!("{prefix}/{dir}/")
        };
        builder.append_data(&mut header, path, std::io::empty())?;
    }
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(if file.executable { 0o775 } else { 0o664 });
        header.set_size(file.contents.len() as u64);
        builder.append_data(
            &mut header,
            format!("{prefix}/{}", file.path),
            file.contents.as_slice(),
        )?;
    }
    let encoder = builder.into_inner()?;
    encoder.finish()
}

/// One pax record, `"<len> <key>=<value>\n"` where `<len>` counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    loop {
        let candidate = format!("{len}{body}");
        if candidate.len() == len {
            return candidate;
        }
        len = candidate.len();
    }
}
