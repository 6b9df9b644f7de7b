//! Rendering and transforming a 200-object manifest set (issue 9, part 5):
//! `cargo bench -p preview-deploy --bench manifests`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use preview_config::Config;
use preview_deploy::render::{parse_documents, render_dir};
use preview_deploy::transform::{PreviewContext, transform};
use std::hint::black_box;

const CONFIG: &str = r#"
[bot]
public_url = "https://preview-bot.example.com"
[domains]
base = "preview.example.com"
[deploy]
ingress_annotations = { "nginx.ingress.kubernetes.io/auth-url" = "https://auth.example.com/oauth2/auth" }
[apps.collect]
repo = "acme/collect"
manifests = { dir = "deploy" }
image_template = "ghcr.io/acme/collect:{sha}"
[apps.collect.dependencies.db]
kind = "postgres"
[apps.collect.dependencies.cache]
kind = "redis"
"#;

/// 50 services, each a ConfigMap, a Deployment, a Service and an Ingress: 200 objects in
/// 10 files.
fn manifest_files() -> Vec<(String, String)> {
    (0..10)
        .map(|file| {
            let docs: Vec<String> = (0..5)
                .map(|j| {
                    let name = format!("svc-{:02}", file * 5 + j);
                    format!(
                        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}-config}}\ndata: {{GREETING: hi}}\n---\n\
apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      initContainers:\n        - name: migrate\n          image: ghcr.io/acme/collect:latest\n          command: [./migrate]\n      containers:\n        - name: {name}\n          image: ghcr.io/acme/collect:latest\n          ports: [{{containerPort: 8080}}]\n          env: [{{name: MODE, value: web}}]\n          envFrom: [{{configMapRef: {{name: {name}-config}}}}]\n        - name: sidecar\n          image: docker.io/library/nginx:1.27\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n---\n\
apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}}}\nspec:\n  tls:\n    - hosts: [{name}.example.com]\n      secretName: {name}-tls\n  rules:\n    - host: {name}.example.com\n      http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend: {{service: {{name: {name}, port: {{number: 80}}}}}}\n"
                    )
                })
                .collect();
            (format!("{file:02}.yaml"), docs.join("---\n"))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let config = Config::parse(CONFIG, "bench.toml").expect("config");
    let app = &config.apps["collect"];
    let ctx = PreviewContext::new(
        &config,
        "collect",
        app,
        42,
        "0123456789abcdef",
        Some("feature"),
    );
    let files = manifest_files();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    for (name, text) in &files {
        std::fs::write(dir.path().join("deploy").join(name), text).unwrap();
    }
    let rendered = render_dir(dir.path(), "deploy").expect("render");
    assert_eq!(rendered.len(), 200);
    assert_eq!(
        transform(rendered.clone(), &ctx)
            .expect("transform")
            .objects
            .len(),
        200
    );

    let mut group = c.benchmark_group("200 objects");
    group.bench_function("parse YAML (10 files, in memory)", |b| {
        b.iter(|| {
            for (name, text) in &files {
                black_box(parse_documents(text, name).unwrap());
            }
        })
    });
    group.bench_function("render_dir (read + parse)", |b| {
        b.iter(|| black_box(render_dir(dir.path(), "deploy").unwrap()))
    });
    group.bench_function("transform", |b| {
        b.iter_batched(
            || rendered.clone(),
            |rendered| black_box(transform(rendered, &ctx).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("render_dir + transform", |b| {
        b.iter(|| {
            let rendered = render_dir(dir.path(), "deploy").unwrap();
            black_box(transform(rendered, &ctx).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
