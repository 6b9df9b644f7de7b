use super::*;
use std::fs;

/// `kubectl` for the real-kustomize tests: a missing one fails on CI and skips elsewhere.
fn kubectl_available() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is needed for the kustomize tests on CI"
        );
        eprintln!("SKIPPED: kubectl is not installed");
    }
    found
}

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(file);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn base_and_overlay(root: &Path) {
    write(
        root,
        "k8s/base/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\n",
    );
    write(
        root,
        "k8s/base/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "ghcr.io/acme/collect:latest", ports: [{containerPort: 8080}]}
"#,
    );
    write(
        root,
        "k8s/base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n",
    );
    write(
        root,
        "k8s/overlays/preview/kustomization.yaml",
        r#"resources:
- ../../base
labels:
- pairs: {tier: preview}
patches:
- target: {kind: Deployment, name: web}
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 1
"#,
    );
}

#[test]
fn a_base_and_overlay_render_with_real_kustomize() {
    if !kubectl_available() {
        return;
    }
    let root = tempfile::tempdir().expect("tmp");
    base_and_overlay(root.path());
    let objects = render_kustomize(
        root.path(),
        "k8s/overlays/preview",
        &KustomizeProgram::default(),
        TIMEOUT,
    )
    .expect("render");
    let kinds: Vec<_> = objects
        .iter()
        .map(|r| r.object["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["Service", "Deployment"]);
    let deployment = &objects[1].object;
    assert_eq!(deployment["metadata"]["name"], "web");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["metadata"]["labels"]["tier"], "preview");
    assert!(
        objects[0]
            .source
            .starts_with("kustomize output of `k8s/overlays/preview`"),
        "{}",
        objects[0].source
    );
}

#[test]
fn a_broken_kustomization_reports_kustomizes_message() {
    if !kubectl_available() {
        return;
    }
    let root = tempfile::tempdir().expect("tmp");
    write(
        root.path(),
        "k8s/kustomization.yaml",
        "resources:\n- missing.yaml\n",
    );
    // Exists, so the reference check lets it through: kustomize itself must complain.
    write(root.path(), "k8s/missing.yaml", "kind: [unclosed\n");
    let err = render_kustomize(root.path(), "k8s", &KustomizeProgram::default(), TIMEOUT)
        .expect_err("broken");
    let RenderError::Kustomize { path, message } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "k8s");
    assert!(message.contains("missing.yaml"), "{message}");
    let shown = root.path().canonicalize().expect("canonical");
    assert!(
        !message.contains(&shown.display().to_string()),
        "the temporary path is hidden: {message}"
    );
    assert!(message.lines().count() <= MAX_ERROR_LINES + 1);
    assert!(
        !message.contains("run.go"),
        "klog header removed: {message}"
    );

    let root = tempfile::tempdir().expect("tmp");
    write(root.path(), "k8s/kustomization.yaml", "bogusField: [1\n");
    let err = render_kustomize(root.path(), "k8s", &KustomizeProgram::default(), TIMEOUT)
        .expect_err("broken");
    assert!(
        matches!(&err, RenderError::Kustomize { message, .. } if !message.is_empty()),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("kustomize `k8s` failed: "),
        "{err}"
    );
}

#[test]
fn paths_escaping_the_root_are_refused() {
    let outer = tempfile::tempdir().expect("tmp");
    let root = outer.path().join("repo");
    write(&root, "k8s/kustomization.yaml", "resources: []\n");
    write(outer.path(), "x/kustomization.yaml", "resources: []\n");
    std::os::unix::fs::symlink(outer.path().join("x"), root.join("link")).expect("symlink");
    // A program that would succeed if it ran: only the path check can stop it.
    let program = KustomizeProgram {
        program: "true".into(),
        args: vec![],
    };
    let outside = outer.path().join("x").display().to_string();
    for path in ["../x", "k8s/../../x", outside.as_str(), "/etc", "link"] {
        assert_eq!(
            render_kustomize(&root, path, &program, TIMEOUT),
            Err(RenderError::Escapes(path.to_string())),
            "{path}"
        );
    }
    assert_eq!(
        render_kustomize(&root, "nope", &program, TIMEOUT),
        Err(RenderError::MissingDir("nope".into()))
    );
}

#[test]
fn references_leaving_the_tree_are_refused_before_kustomize_runs() {
    let outer = tempfile::tempdir().expect("tmp");
    let root = outer.path().join("repo");
    write(outer.path(), "x/kustomization.yaml", "resources: []\n");
    fs::create_dir_all(&root).expect("mkdir");
    std::os::unix::fs::symlink(outer.path().join("x"), root.join("link")).expect("symlink");
    let program = KustomizeProgram {
        program: "true".into(),
        args: vec![],
    };
    let cases = [
        ("- ../../x", "outside the repository"),
        ("- ../link", "outside the repository"),
        ("- /etc/kubernetes", "absolute path"),
        (
            "- https://github.com/acme/infra//base?ref=main",
            "remote resources are not supported",
        ),
        (
            "- github.com/acme/infra/base",
            "remote resources are not supported",
        ),
    ];
    for (entry, problem) in cases {
        // Reached through an in-tree base, so the check follows bases.
        write(
            &root,
            "base/kustomization.yaml",
            &format!("resources:\n{entry}\n"),
        );
        write(&root, "k8s/kustomization.yaml", "resources:\n- ../base\n");
        let err = render_kustomize(&root, "k8s", &program, TIMEOUT).expect_err(entry);
        let RenderError::Kustomize { message, .. } = &err else {
            panic!("{entry}: {err:?}");
        };
        assert!(message.contains(problem), "{entry}: {message}");
        assert!(message.contains("base/kustomization.yaml"), "{message}");
    }
}

#[test]
fn a_program_that_does_not_finish_is_killed_at_the_timeout() {
    let root = tempfile::tempdir().expect("tmp");
    write(root.path(), "k8s/kustomization.yaml", "resources: []\n");
    let program = KustomizeProgram {
        program: "sh".into(),
        args: vec!["-c".into(), "sleep 30".into(), "sh".into()],
    };
    let started = Instant::now();
    let err = render_kustomize(root.path(), "k8s", &program, Duration::from_millis(300))
        .expect_err("timeout");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(
        err,
        RenderError::Timeout {
            what: "`sh -c sleep 30 sh` for `k8s`".into(),
            after: "300ms".into()
        }
    );
}

#[test]
fn the_program_gets_the_directory_a_clean_environment_and_bounded_errors() {
    let root = tempfile::tempdir().expect("tmp");
    write(root.path(), "k8s/kustomization.yaml", "resources: []\n");
    // Prints a ConfigMap holding the directory argument and the environment's variable names.
    let script = r#"printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: env}\ndata:\n  dir: "%s"\n  names: "%s"\n' "$(basename "$1")" "$(env | cut -d= -f1 | grep -v '^PWD$' | grep -v '^SHLVL$' | grep -v '^_$' | sort | tr '\n' ' ')""#;
    let program = KustomizeProgram {
        program: "sh".into(),
        args: vec!["-c".into(), script.into(), "sh".into()],
    };
    let objects = render_kustomize(root.path(), "k8s", &program, TIMEOUT).expect("render");
    assert_eq!(objects[0].object["data"]["dir"], "k8s");
    let names = objects[0].object["data"]["names"].as_str().expect("names");
    for name in names.split_whitespace() {
        assert!(matches!(name, "PATH" | "HOME"), "leaked {name}: {names}");
    }

    let noisy = KustomizeProgram {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "for i in $(seq 1 50); do echo \"line $i in $1\" >&2; done; exit 3".into(),
            "sh".into(),
        ],
    };
    let err = render_kustomize(root.path(), "k8s", &noisy, TIMEOUT).expect_err("fails");
    let RenderError::Kustomize { message, .. } = err else {
        panic!("not a kustomize error");
    };
    let lines: Vec<_> = message.lines().collect();
    assert_eq!(lines.len(), MAX_ERROR_LINES + 1, "{message}");
    assert_eq!(lines[0], "line 1 in k8s");
    assert_eq!(lines[MAX_ERROR_LINES], "… (30 more lines)");

    let silent = KustomizeProgram {
        program: "false".into(),
        args: vec![],
    };
    let err = render_kustomize(root.path(), "k8s", &silent, TIMEOUT).expect_err("fails");
    assert!(err.to_string().contains("no message"), "{err}");

    let empty = KustomizeProgram {
        program: "true".into(),
        args: vec![],
    };
    assert_eq!(
        render_kustomize(root.path(), "k8s", &empty, TIMEOUT),
        Err(RenderError::Empty("k8s".into()))
    );

    let missing = KustomizeProgram {
        program: "/nonexistent/kubectl".into(),
        args: vec![],
    };
    let err = render_kustomize(root.path(), "k8s", &missing, TIMEOUT).expect_err("fails");
    assert!(
        err.to_string()
            .contains("cannot run `/nonexistent/kubectl`"),
        "{err}"
    );
}

#[test]
fn oversized_output_is_refused() {
    let root = tempfile::tempdir().expect("tmp");
    write(root.path(), "k8s/kustomization.yaml", "resources: []\n");
    let program = KustomizeProgram {
        program: "sh".into(),
        args: vec!["-c".into(), "exec yes".into(), "sh".into()],
    };
    let err = render_kustomize(root.path(), "k8s", &program, TIMEOUT).expect_err("too big");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[test]
fn klog_headers_are_removed_from_messages() {
    assert_eq!(
        without_klog_header(
            r#"E1122 04:16:20.604039   31546 run.go:72] "command failed" err="accumulating resources: x""#
        ),
        "accumulating resources: x"
    );
    assert_eq!(
        without_klog_header("W0101 00:00:00.1 1 warn.go:1] something odd"),
        "something odd"
    );
    assert_eq!(
        without_klog_header("Error: a] b.go: c"),
        "Error: a] b.go: c"
    );
}

#[test]
fn the_image_template_is_pinned() {
    let objects = render_image_app("collect", "ghcr.io/acme/collect:0123abc", 8080);
    assert!(
        objects
            .iter()
            .all(|r| r.source == "built-in template for image `ghcr.io/acme/collect:0123abc`")
    );
    let objects: Vec<Value> = objects.into_iter().map(|r| r.object).collect();
    insta::assert_yaml_snapshot!(objects);
}
