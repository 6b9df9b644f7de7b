//! Upstreams (SPEC section 4 step 6): each service an app calls gets an ExternalName Service of
//! that name in the preview, pointing at staging or, after `/preview point`, at another preview.
//! Repointing changes only DNS, so the app needs no restart.

use crate::naming::PreviewNamespace;
use crate::render::Rendered;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The in-cluster DNS name of `service` in another preview's namespace.
pub fn preview_host(service: &str, namespace: &PreviewNamespace) -> String {
    format!("{service}.{namespace}.svc.cluster.local")
}

/// One ExternalName Service per upstream: to `targets[service]` when pointed, else to staging.
/// Plain objects: the transform puts them in the namespace and labels them like the app's own.
pub fn services(
    upstreams: &BTreeMap<String, String>,
    targets: &BTreeMap<String, String>,
) -> Vec<Rendered> {
    upstreams
        .iter()
        .map(|(service, staging)| {
            let host = targets.get(service).unwrap_or(staging);
            Rendered {
                source: format!("upstream `{service}`"),
                object: service_object(service, host),
            }
        })
        .collect()
}

pub fn service_object(service: &str, host: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "labels": {"preview-bot.dev/upstream": service}},
        "spec": {"type": "ExternalName", "externalName": host}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointed_upstreams_go_to_the_preview_others_to_staging() {
        let upstreams = BTreeMap::from([
            (
                "payments".to_string(),
                "payments.staging.svc.cluster.local".to_string(),
            ),
            (
                "search".to_string(),
                "search.staging.svc.cluster.local".to_string(),
            ),
        ]);
        let target = PreviewNamespace::for_preview("preview-", "payments", 42);
        let targets = BTreeMap::from([("payments".to_string(), preview_host("payments", &target))]);
        let objects = services(&upstreams, &targets);
        let hosts: Vec<&str> = objects
            .iter()
            .map(|r| {
                r.object["spec"]["externalName"]
                    .as_str()
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            hosts,
            [
                "payments.preview-payments-pr-42.svc.cluster.local",
                "search.staging.svc.cluster.local"
            ]
        );
    }
}
