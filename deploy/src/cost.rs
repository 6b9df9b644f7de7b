//! What the previews request of the cluster, for the digest's cost estimate: one list of pods
//! across namespaces by the preview label, never a request per preview.

use crate::cluster::{Cluster, DeployError};
use crate::labels;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;

/// CPU cores and GiB of memory requested by the running pods of one preview.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Requests {
    pub cpu_cores: f64,
    pub memory_gib: f64,
    pub pods: usize,
}

impl Cluster {
    /// Requests of running pods per preview namespace (finished pods cost nothing).
    pub async fn requests_by_preview(&self) -> Result<BTreeMap<String, Requests>, DeployError> {
        let pods: Api<Pod> = Api::all(self.client().clone());
        let list = pods
            .list(&ListParams::default().labels(labels::PREVIEW))
            .await
            .map_err(|e| DeployError::kube("list preview pods", e))?;
        let mut out: BTreeMap<String, Requests> = BTreeMap::new();
        for pod in list.items {
            let Some(namespace) = pod.metadata.namespace.clone() else {
                continue;
            };
            if !namespace.starts_with(self.prefix()) {
                continue;
            }
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let entry = out.entry(namespace).or_default();
            entry.pods += 1;
            for container in pod.spec.iter().flat_map(|s| s.containers.iter()) {
                let requests = container
                    .resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref());
                if let Some(requests) = requests {
                    if let Some(cpu) = requests.get("cpu").and_then(|q| parse_quantity(&q.0)) {
                        entry.cpu_cores += cpu;
                    }
                    if let Some(memory) = requests.get("memory").and_then(|q| parse_quantity(&q.0))
                    {
                        entry.memory_gib += memory / GIB;
                    }
                }
            }
        }
        Ok(out)
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A Kubernetes quantity (`100m`, `0.5`, `64Mi`, `1G`, `1e3`) in base units; `None` if malformed.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => GIB,
        "Ti" => GIB * 1024.0,
        "Pi" => GIB * 1024.0 * 1024.0,
        "Ei" => GIB * 1024.0 * 1024.0 * 1024.0,
        exponent if exponent.starts_with(['e', 'E']) => 10f64.powi(exponent[1..].parse().ok()?),
        _ => return None,
    };
    let value = number * factor;
    (value.is_finite() && value >= 0.0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::parse_quantity;

    #[test]
    fn quantities() {
        let cases = [
            ("100m", Some(0.1)),
            ("2", Some(2.0)),
            ("0.5", Some(0.5)),
            ("64Mi", Some(64.0 * 1024.0 * 1024.0)),
            ("1Gi", Some(1024.0 * 1024.0 * 1024.0)),
            ("1G", Some(1e9)),
            ("1e3", Some(1000.0)),
            ("12Zi", None),
            ("", None),
            ("-1", None),
        ];
        for (text, want) in cases {
            let got = parse_quantity(text);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{text}: {g} != {w}"),
                (g, w) => assert_eq!(g, w, "{text}"),
            }
        }
    }
}
