//! Rendering an app's manifests at a commit into plain Kubernetes objects (SPEC section 4 step 3).
//! This session supports a directory of plain YAML (multi-document, `List` kinds expanded).

use serde_json::Value;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("manifest directory `{0}` does not exist in the repository at this commit")]
    MissingDir(String),
    #[error("manifest path `{0}` leaves the repository")]
    Escapes(String),
    #[error("`{file}`: {problem}")]
    Invalid { file: String, problem: String },
    #[error("manifest directory `{0}` holds no Kubernetes objects")]
    Empty(String),
    #[error("manifest source not supported yet: {0}")]
    Unsupported(String),
    #[error("cannot read `{file}`: {problem}")]
    Io { file: String, problem: String },
    #[error("kustomize `{path}` failed: {message}")]
    Kustomize { path: String, message: String },
    #[error("{what} did not finish within {after}")]
    Timeout { what: String, after: String },
}

/// One rendered object with where it came from, for error messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub source: String,
    pub object: Value,
}

/// Largest single manifest file read (a manifest that big is a mistake, not a deploy).
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Reads every `*.yaml`, `*.yml` and `*.json` file directly in `root/dir` (not recursive, as
/// `kubectl apply -f DIR`), in name order, each possibly holding several documents.
pub fn render_dir(root: &Path, dir: &str) -> Result<Vec<Rendered>, RenderError> {
    let base = root.canonicalize().map_err(|e| RenderError::Io {
        file: ".".into(),
        problem: e.to_string(),
    })?;
    let wanted = base.join(dir);
    let path = wanted
        .canonicalize()
        .map_err(|_| RenderError::MissingDir(dir.to_string()))?;
    if !path.starts_with(&base) {
        return Err(RenderError::Escapes(dir.to_string()));
    }
    if !path.is_dir() {
        return Err(RenderError::MissingDir(dir.to_string()));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
        .map_err(|e| RenderError::Io {
            file: dir.into(),
            problem: e.to_string(),
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let shown = file
            .strip_prefix(&base)
            .unwrap_or(&file)
            .display()
            .to_string();
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE_BYTES {
            return Err(RenderError::Invalid {
                file: shown,
                problem: format!("larger than {MAX_FILE_BYTES} bytes"),
            });
        }
        let text = std::fs::read_to_string(&file).map_err(|e| RenderError::Io {
            file: shown.clone(),
            problem: e.to_string(),
        })?;
        out.extend(parse_documents(&text, &shown)?);
    }
    if out.is_empty() {
        return Err(RenderError::Empty(dir.to_string()));
    }
    Ok(out)
}

/// Parses a multi-document YAML (or JSON) text into objects; empty documents are skipped and
/// `kind: List` / `*List` documents are expanded into their items.
pub fn parse_documents(text: &str, source: &str) -> Result<Vec<Rendered>, RenderError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| RenderError::Invalid {
            file: source.to_string(),
            problem: format!("not valid YAML: {e}"),
        })?;
    let mut out = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        let at = format!("{source} (document {})", index + 1);
        match document {
            Value::Null => continue,
            Value::Object(_) => {}
            _ => {
                return Err(RenderError::Invalid {
                    file: at,
                    problem: "a document must be a Kubernetes object (a mapping)".into(),
                });
            }
        }
        let kind = document
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind == "List" || (kind.ends_with("List") && document.get("items").is_some()) {
            let items = document
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (item_index, item) in items.into_iter().enumerate() {
                let item_at = format!("{at}, item {}", item_index + 1);
                check_object(&item, &item_at)?;
                out.push(Rendered {
                    source: item_at,
                    object: item,
                });
            }
        } else {
            check_object(&document, &at)?;
            out.push(Rendered {
                source: at,
                object: document,
            });
        }
    }
    Ok(out)
}

fn check_object(object: &Value, at: &str) -> Result<(), RenderError> {
    let invalid = |problem: &str| RenderError::Invalid {
        file: at.to_string(),
        problem: problem.to_string(),
    };
    if !object.is_object() {
        return Err(invalid(
            "a document must be a Kubernetes object (a mapping)",
        ));
    }
    let text = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if text("apiVersion").is_none() {
        return Err(invalid("`apiVersion` is missing"));
    }
    if text("kind").is_none() {
        return Err(invalid("`kind` is missing"));
    }
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    if name.is_none() {
        return Err(invalid(
            "`metadata.name` is missing (generateName is not supported: objects must be prunable by name)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_with_lists_and_empty_documents() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n";
        let objects = parse_documents(text, "x.yaml").expect("parse");
        let names: Vec<_> = objects
            .iter()
            .map(|r| r.object["metadata"]["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn broken_documents_name_file_and_problem() {
        let err = parse_documents("apiVersion: v1\nmetadata: {name: a}\n", "app.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`app.yaml (document 1)`: `kind` is missing"
        );
        let err = parse_documents("key: [unclosed\n", "bad.yaml").unwrap_err();
        assert!(
            err.to_string().starts_with("`bad.yaml`: not valid YAML"),
            "{err}"
        );
        let err = parse_documents("- just\n- a list\n", "list.yaml").unwrap_err();
        assert!(
            err.to_string().contains("must be a Kubernetes object"),
            "{err}"
        );
    }

    #[test]
    fn directory_rendering_refuses_escapes_and_missing_dirs() {
        let root = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(root.path().join("deploy")).expect("mkdir");
        std::fs::write(
            root.path().join("deploy/b.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        )
        .expect("w");
        std::fs::write(
            root.path().join("deploy/a.yml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )
        .expect("w");
        std::fs::write(root.path().join("deploy/notes.txt"), "ignored").expect("w");
        let objects = render_dir(root.path(), "deploy").expect("render");
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].object["metadata"]["name"], "a");
        assert_eq!(
            render_dir(root.path(), "nope"),
            Err(RenderError::MissingDir("nope".into()))
        );
        assert!(matches!(
            render_dir(root.path(), ".."),
            Err(RenderError::Escapes(_))
        ));
    }
}
