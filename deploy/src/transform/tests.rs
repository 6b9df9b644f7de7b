use super::*;
use crate::render::parse_documents;

const CONFIG: &str = r#"
[bot]
public_url = "https://preview-bot.example.com"
[domains]
base = "preview.example.com"
[deploy]
max_replicas = 2
[apps.collect]
repo = "acme/collect"
manifests = { dir = "deploy" }
image_template = "ghcr.io/acme/collect:{sha}"
env = { FEATURE_FLAGS = "preview-{pr}" }
"#;

const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: production}
spec:
  replicas: 10
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ghcr.io/acme/collect:latest
        env:
        - {name: PREVIEW_URL, value: stale}
        - {name: LOG_LEVEL, value: debug}
      - name: proxy
        image: envoyproxy/envoy:v1.30.0
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  replicas: 3
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      initContainers:
      - {name: migrate, image: "ghcr.io/acme/collect@sha256:abc"}
      containers:
      - {name: worker, image: "ghcr.io/acme/collect:v1"}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: worker}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}
  minReplicas: 3
  maxReplicas: 20
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  tls:
  - hosts: [collect.example.com, api.example.com]
    secretName: web-tls
  rules:
  - host: collect.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
  - host: api.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: "busybox:1.36"}]
"#;

fn context() -> PreviewContext {
    let config = Config::parse(CONFIG, "test.toml").expect("config");
    let app = &config.apps["collect"];
    let mut ctx = PreviewContext::new(
        &config,
        "collect",
        app,
        42,
        &"c0ffee".repeat(6)[..36].repeat(2)[..40],
        Some("feat/x"),
    );
    ctx.secret_env.push(SecretEnv {
        name: "DATABASE_URL".into(),
        secret: "db-credentials".into(),
        key: "url".into(),
    });
    ctx
}

fn run(text: &str) -> Result<Transformed, TransformError> {
    transform(
        parse_documents(text, "deploy/app.yaml").expect("parse"),
        &context(),
    )
}

#[test]
fn the_whole_transform_is_pinned() {
    let out = run(MANIFESTS).expect("transform");
    assert_eq!(
        out.hosts,
        [
            "collect-pr-42.preview.example.com",
            "api-collect-pr-42.preview.example.com"
        ]
    );
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    insta::assert_yaml_snapshot!(out.objects);
}

#[test]
fn every_container_gets_the_preview_environment() {
    let out = run(MANIFESTS).expect("transform");
    let ctx = context();
    for object in &out.objects {
        let mut object = object.clone();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        for spec in pod_specs(&mut object, &kind) {
            for container in containers(spec) {
                let env = container["env"].as_array().expect("env");
                for (name, value) in &ctx.env {
                    let found = env
                        .iter()
                        .filter(|e| e["name"] == json!(name))
                        .collect::<Vec<_>>();
                    assert_eq!(found.len(), 1, "{name} in {kind}");
                    assert_eq!(found[0]["value"], json!(value));
                }
                let db = env
                    .iter()
                    .find(|e| e["name"] == "DATABASE_URL")
                    .expect("DATABASE_URL");
                assert_eq!(db["valueFrom"]["secretKeyRef"]["name"], "db-credentials");
            }
        }
    }
}

#[test]
fn cluster_scoped_and_disallowed_kinds_are_refused() {
    let err = run(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: admin}\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`deploy/app.yaml (document 1)`: ClusterRole `admin` is cluster-scoped; previews may only contain namespaced objects"
    );
    let mut ctx = context();
    ctx.allowed_kinds = vec!["apps/Deployment".into(), "Service".into()];
    let objects = parse_documents(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        "s.yaml",
    )
    .expect("parse");
    assert!(matches!(
        transform(objects, &ctx),
        Err(TransformError::KindNotAllowed { .. })
    ));
}

#[test]
fn duplicates_are_refused_and_missing_ingress_warns() {
    let twice = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
    assert!(matches!(run(twice), Err(TransformError::Duplicate { .. })));
    let out = run("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").expect("transform");
    assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
}

#[test]
fn image_repository_parsing() {
    assert_eq!(
        image_repository("ghcr.io/acme/collect:abc"),
        "ghcr.io/acme/collect"
    );
    assert_eq!(
        image_repository("localhost:5000/collect"),
        "localhost:5000/collect"
    );
    assert_eq!(
        image_repository("localhost:5000/collect:v1@sha256:00"),
        "localhost:5000/collect"
    );
    assert_eq!(image_repository("busybox"), "busybox");
}
