#![allow(clippy::unwrap_used)]
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
#[tokio::test]
#[ignore]
async fn serve_for_manual_kubectl() {
    let kube = preview_testkit::kube_api::FakeKube::start().await;
    kube.set_unpullable_image("bad");
    let client = kube.client().await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    for (n, img) in [("web", "nginx"), ("broken", "bad:1")] {
        deps.patch(n, &PatchParams::apply("t"), &Patch::Apply(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": n}},
              "template": {"metadata": {"labels": {"app": n}}, "spec": {"containers": [{"name": "c", "image": img}]}}}}))).await.unwrap();
    }
    kube.write_kubeconfig(std::path::Path::new("/tmp/fake-kubeconfig"))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
}
