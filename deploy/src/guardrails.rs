//! Cost and safety controls per preview namespace: a ResourceQuota and a LimitRange from
//! `[deploy]`, applied before anything that makes pods.

use crate::render::Rendered;
use preview_config::DeployConfig;
use serde_json::json;

pub const QUOTA_NAME: &str = "preview-quota";
pub const LIMITS_NAME: &str = "preview-limits";

/// The ResourceQuota and LimitRange the config asks for (none when it asks for none).
pub fn namespace_policies(deploy: &DeployConfig) -> Vec<Rendered> {
    let mut out = Vec::new();
    if !deploy.quota.is_empty() {
        out.push(Rendered {
            source: "deploy.quota".into(),
            object: json!({
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": QUOTA_NAME},
                "spec": {"hard": deploy.quota},
            }),
        });
    }
    if !deploy.default_requests.is_empty() || !deploy.default_limits.is_empty() {
        let mut limit = json!({"type": "Container"});
        if !deploy.default_requests.is_empty() {
            limit["defaultRequest"] = json!(deploy.default_requests);
        }
        if !deploy.default_limits.is_empty() {
            limit["default"] = json!(deploy.default_limits);
        }
        out.push(Rendered {
            source: "deploy.default_requests / deploy.default_limits".into(),
            object: json!({
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": LIMITS_NAME},
                "spec": {"limits": [limit]},
            }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_only_when_configured() {
        let mut deploy = DeployConfig::default();
        assert!(namespace_policies(&deploy).is_empty());
        deploy.quota.insert("pods".into(), "20".into());
        deploy.default_requests.insert("cpu".into(), "50m".into());
        let objects = namespace_policies(&deploy);
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].object["spec"]["hard"]["pods"], "20");
        assert_eq!(
            objects[1].object["spec"]["limits"][0]["defaultRequest"]["cpu"],
            "50m"
        );
        assert!(
            objects[1].object["spec"]["limits"][0]
                .get("default")
                .is_none()
        );
    }
}
