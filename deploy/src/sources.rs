//! The manifest sources besides a directory of plain YAML (SPEC section 4 step 3): a kustomize
//! directory rendered by `kubectl kustomize`, and the built-in template for
//! `manifests = { image = "...", port = N }`.

use crate::render::{RenderError, Rendered, parse_documents};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Largest rendered output accepted from kustomize.
pub const MAX_OUTPUT_BYTES: usize = 32 * 1024 * 1024;
/// Kept of kustomize's stderr (the rest is read and dropped).
const MAX_STDERR_BYTES: usize = 64 * 1024;
/// Lines of kustomize's stderr shown to the user.
const MAX_ERROR_LINES: usize = 20;
/// The file names kustomize looks for in a directory.
const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// Kustomization fields whose entries name other files or kustomization directories.
const REFERENCE_FIELDS: &[&str] = &[
    "resources",
    "bases",
    "components",
    "generators",
    "transformers",
    "validators",
];

/// The program that renders a kustomize directory; the directory is appended as the last
/// argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KustomizeProgram {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl Default for KustomizeProgram {
    fn default() -> Self {
        KustomizeProgram {
            program: PathBuf::from("kubectl"),
            args: vec!["kustomize".to_string()],
        }
    }
}

impl KustomizeProgram {
    fn display(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Renders the kustomize directory `path` of the source tree at `root` with `program`
/// (`kubectl kustomize DIR` by default).
///
/// `path` must stay inside `root`, symlinks included, and so must every resource, base and
/// component the kustomizations reference: remote bases (git or HTTP URLs) and directories
/// outside the tree are refused before kustomize runs. The program runs without a shell, with
/// only `PATH` and `HOME` in its environment, no standard input, within `timeout` (killed after)
/// and with at most [`MAX_OUTPUT_BYTES`] of output. A failure carries the first lines of
/// kustomize's own message, with the tree's temporary path removed.
pub fn render_kustomize(
    root: &Path,
    path: &str,
    program: &KustomizeProgram,
    timeout: Duration,
) -> Result<Vec<Rendered>, RenderError> {
    let base = root.canonicalize().map_err(|e| RenderError::Io {
        file: ".".into(),
        problem: e.to_string(),
    })?;
    let dir = resolve_inside(&base, path)?;
    let mut visited = HashSet::new();
    check_references(&base, &dir, path, &mut visited)?;
    let stdout = run(program, &dir, timeout, path, &[root, &base])?;
    let text = String::from_utf8(stdout).map_err(|_| RenderError::Kustomize {
        path: path.to_string(),
        message: "the output is not UTF-8 text".into(),
    })?;
    let objects = parse_documents(&text, &format!("kustomize output of `{path}`"))?;
    if objects.is_empty() {
        return Err(RenderError::Empty(path.to_string()));
    }
    Ok(objects)
}

/// The canonical directory `path` names under `base`, refusing absolute paths, `..` above the
/// root and symlinks that lead out of it.
fn resolve_inside(base: &Path, path: &str) -> Result<PathBuf, RenderError> {
    let escapes = || RenderError::Escapes(path.to_string());
    let mut depth: usize = 0;
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(escapes)?,
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    let resolved = base
        .join(path)
        .canonicalize()
        .map_err(|_| RenderError::MissingDir(path.to_string()))?;
    if !resolved.starts_with(base) {
        return Err(escapes());
    }
    if !resolved.is_dir() {
        return Err(RenderError::MissingDir(path.to_string()));
    }
    Ok(resolved)
}

/// Walks the kustomizations reachable from `dir` and refuses any reference kustomize would load
/// from outside the tree: an absolute path, a path leaving `base`, or a name that is not a file
/// or directory of the tree (kustomize would fetch it as a remote git or HTTP resource). What
/// cannot be parsed is left to kustomize to report.
fn check_references(
    base: &Path,
    dir: &Path,
    path: &str,
    visited: &mut HashSet<PathBuf>,
) -> Result<(), RenderError> {
    if !visited.insert(dir.to_path_buf()) {
        return Ok(());
    }
    let Some(file) = KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|f| f.is_file())
    else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    let Ok(kustomization) = serde_saphyr::from_str::<Value>(&text) else {
        return Ok(());
    };
    let shown_file = file
        .strip_prefix(base)
        .unwrap_or(&file)
        .display()
        .to_string();
    let refuse = |entry: &str, problem: &str| RenderError::Kustomize {
        path: path.to_string(),
        message: format!("`{shown_file}` references `{entry}`, {problem}"),
    };
    for field in REFERENCE_FIELDS {
        let Some(entries) = kustomization.get(*field).and_then(Value::as_array) else {
            continue;
        };
        for entry in entries.iter().filter_map(Value::as_str) {
            if entry.contains('\n') {
                // An inline generator or transformer configuration, not a path.
                continue;
            }
            if Path::new(entry).is_absolute() {
                return Err(refuse(entry, "an absolute path outside the repository"));
            }
            let Ok(target) = dir.join(entry).canonicalize() else {
                return Err(refuse(
                    entry,
                    "which is not a file or directory of the repository (remote resources are not supported)",
                ));
            };
            if !target.starts_with(base) {
                return Err(refuse(entry, "which is outside the repository"));
            }
            if target.is_dir() {
                check_references(base, &target, path, visited)?;
            }
        }
    }
    Ok(())
}

/// Runs `program args… dir` and returns its standard output.
fn run(
    program: &KustomizeProgram,
    dir: &Path,
    timeout: Duration,
    path: &str,
    hide: &[&Path],
) -> Result<Vec<u8>, RenderError> {
    let failed = |message: String| RenderError::Kustomize {
        path: path.to_string(),
        message,
    };
    let timed_out = || RenderError::Timeout {
        what: format!("`{}` for `{path}`", program.display()),
        after: format!("{timeout:?}"),
    };
    let mut command = Command::new(&program.program);
    command
        .args(&program.args)
        .arg(dir)
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing else: no cloud or git credentials, no KUBECONFIG (kustomize needs no cluster).
    for key in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| failed(format!("cannot run `{}`: {e}", program.display())))?;
    let deadline = Instant::now() + timeout;
    let overflow = Arc::new(AtomicBool::new(false));
    let stdout = child
        .stdout
        .take()
        .map(|pipe| read_bounded(pipe, MAX_OUTPUT_BYTES, Some(overflow.clone())));
    let stderr = child
        .stderr
        .take()
        .map(|pipe| read_bounded(pipe, MAX_STDERR_BYTES, None));
    let status = loop {
        if overflow.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!(
                "the output is larger than {MAX_OUTPUT_BYTES} bytes"
            )));
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "cannot wait for `{}`: {e}",
                    program.display()
                )));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(timed_out());
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
    };
    // The pipes close when the program exits (unless it left a child holding them: then the
    // deadline still bounds the wait).
    let collect = |pipe: Option<mpsc::Receiver<Vec<u8>>>| -> Result<Vec<u8>, RenderError> {
        let Some(receiver) = pipe else {
            return Ok(Vec::new());
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        receiver.recv_timeout(left).map_err(|_| timed_out())
    };
    let out = collect(stdout)?;
    let err = collect(stderr)?;
    if overflow.load(Ordering::Relaxed) {
        return Err(failed(format!(
            "the output is larger than {MAX_OUTPUT_BYTES} bytes"
        )));
    }
    if !status.success() {
        return Err(failed(error_message(&err, status, hide)));
    }
    Ok(out)
}

/// Reads a pipe to its end on a thread, keeping at most `limit` bytes; past that the rest is
/// drained (so the writer never blocks) and `overflow`, if given, is set.
fn read_bounded(
    mut pipe: impl Read + Send + 'static,
    limit: usize,
    overflow: Option<Arc<AtomicBool>>,
) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let room = limit.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                    if n > room
                        && let Some(flag) = &overflow
                    {
                        flag.store(true, Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = sender.send(kept);
    });
    receiver
}

/// kustomize's stderr for a user: temporary paths removed, trimmed, at most
/// [`MAX_ERROR_LINES`] lines.
fn error_message(stderr: &[u8], status: std::process::ExitStatus, hide: &[&Path]) -> String {
    let mut text = String::from_utf8_lossy(stderr).into_owned();
    for path in hide {
        let shown = path.display().to_string();
        if !shown.is_empty() && shown != "/" {
            text = text.replace(&format!("{shown}/"), "").replace(&shown, ".");
        }
    }
    let lines: Vec<&str> = text.trim().lines().map(without_klog_header).collect();
    if lines.is_empty() {
        return format!("exited with {status} and no message");
    }
    let mut message = lines
        .iter()
        .take(MAX_ERROR_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > MAX_ERROR_LINES {
        message.push_str(&format!(
            "\n… ({} more lines)",
            lines.len() - MAX_ERROR_LINES
        ));
    }
    message
}

/// kubectl logs its failure through klog: `E1122 04:16:20.604039   31546 run.go:72] "command
/// failed" err="accumulating resources: ..."`; the user needs only the `err` text.
fn without_klog_header(line: &str) -> &str {
    let bytes = line.as_bytes();
    let klog = bytes.len() > 5
        && matches!(bytes[0], b'E' | b'W' | b'I' | b'F')
        && bytes[1..5].iter().all(u8::is_ascii_digit)
        && bytes[5] == b' ';
    let Some(rest) = line
        .split_once("] ")
        .filter(|(head, _)| klog && head.contains(".go:"))
        .map(|(_, rest)| rest)
    else {
        return line;
    };
    rest.strip_prefix("\"command failed\" err=\"")
        .and_then(|err| err.strip_suffix('"'))
        .unwrap_or(rest)
}

/// The built-in template for `manifests = { image = "...", port = N }`: a Deployment (one
/// replica, readiness on the port), a Service (port 80 to the port) and an Ingress (`/` to the
/// Service), all named after the app. Plain objects: the transform adds the namespace and
/// labels, pins the image and sets the Ingress host (the placeholder `{app}.preview.invalid`).
pub fn render_image_app(app: &str, image: &str, port: u16) -> Vec<Rendered> {
    let source = format!("built-in template for image `{image}`");
    let selector = json!({"app.kubernetes.io/name": app});
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "labels": selector},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {
                    "enableServiceLinks": false,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": app,
                        "image": image,
                        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                        "readinessProbe": {
                            "tcpSocket": {"port": "http"},
                            "periodSeconds": 5,
                            "failureThreshold": 3,
                        },
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false},
                    }],
                },
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "labels": selector},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    });
    let ingress = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": app, "labels": selector},
        "spec": {
            "rules": [{
                "host": format!("{app}.preview.invalid"),
                "http": {"paths": [{
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": app, "port": {"number": 80}}},
                }]},
            }],
        },
    });
    [deployment, service, ingress]
        .into_iter()
        .map(|object: Value| Rendered {
            source: source.clone(),
            object,
        })
        .collect()
}

#[cfg(test)]
mod tests;
