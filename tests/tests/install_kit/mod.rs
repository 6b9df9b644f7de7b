//! The install manifests as `kubectl kustomize install/` renders them, and Kubernetes RBAC
//! evaluation of the requests in the fake API server's log (the rules of the authorizer:
//! `k8s.io/apiserver` request info and `rbac/v1` rule matching).
#![allow(clippy::unwrap_used, dead_code)]

use preview_testkit::kube_api::RecordedRequest;
use serde_json::Value;
use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// A tool the test needs: `None` (skip) outside CI, a failure in CI.
pub fn required_tool(program: &str, install_hint: &str) -> Option<PathBuf> {
    let found = which(program);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed ({install_hint}); .ci/run installs it"
        );
        eprintln!("SKIPPED: {program} is not installed ({install_hint})");
    }
    found
}

/// `kubectl kustomize install/`, one JSON value per object.
pub fn render_install() -> Option<Vec<Value>> {
    let kubectl = required_tool("kubectl", "https://kubernetes.io/docs/tasks/tools/")?;
    let output = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(repo_root().join("install"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl kustomize install/ failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    Some(serde_saphyr::from_multiple::<Value>(&text).unwrap())
}

pub fn kind_named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in install/"))
}

/// What one API request asks the authorizer for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    pub verb: String,
    pub group: String,
    /// `pods` or `pods/log`.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {group}/{}", self.verb, self.resource)?;
        match &self.namespace {
            Some(ns) => write!(f, " in {ns}"),
            None => write!(f, " (cluster)"),
        }
    }
}

/// The access a request needs, as the API server's request-info parser derives it; `None` for
/// non-resource URLs (`/version`, discovery), which every authenticated user may read through
/// the default `system:discovery` binding.
pub fn access_of(request: &RecordedRequest) -> Option<Access> {
    let parts: Vec<&str> = request
        .path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (group, mut rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => (group.to_string(), rest),
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    let mut namespace = None;
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        // `namespaces/{ns}/status` and `/finalize` are subresources of the namespace itself.
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    let resource = match rest.get(2) {
        Some(sub) => format!("{}/{sub}", rest[0]),
        None => rest[0].to_string(),
    };
    let name = rest.get(1).map(|n| n.to_string());
    let watching = matches!(request.query_param("watch").as_deref(), Some("true" | "1"));
    let verb = match (request.method.as_str(), &name) {
        ("GET", _) if watching => "watch",
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        (other, _) => panic!("unexpected method {other}"),
    };
    Some(Access {
        verb: verb.to_string(),
        group,
        resource,
        namespace,
        name,
    })
}

/// Every access a request needs: a server-side apply that creates the object (201) is also
/// authorized as `create` (the API server's patch handler checks create attributes then).
pub fn accesses_of(request: &RecordedRequest) -> Vec<Access> {
    let Some(access) = access_of(request) else {
        return Vec::new();
    };
    let mut accesses = vec![access.clone()];
    if access.verb == "patch" && request.status == 201 {
        accesses.push(Access {
            verb: "create".into(),
            ..access
        });
    }
    accesses
}

/// One `rbac/v1` PolicyRule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub names: Vec<String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn rules_of(role: &Value) -> Vec<Rule> {
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            assert!(
                rule.get("nonResourceURLs").is_none(),
                "install/ grants non-resource URLs: {rule}"
            );
            Rule {
                groups: strings(&rule["apiGroups"]),
                resources: strings(&rule["resources"]),
                verbs: strings(&rule["verbs"]),
                names: strings(&rule["resourceNames"]),
            }
        })
        .collect()
}

impl Rule {
    /// `rbac/v1` matching: verb, group, resource (with subresource), and resource names
    /// (which never restrict `list`, `watch` or `create` of a collection: those fail them).
    pub fn allows(&self, access: &Access) -> bool {
        let has = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        has(&self.verbs, &access.verb)
            && has(&self.groups, &access.group)
            && has(&self.resources, &access.resource)
            && (self.names.is_empty()
                || access
                    .name
                    .as_deref()
                    .is_some_and(|n| self.names.iter().any(|v| v == n)))
    }
}

/// The shipped grants: ClusterRole rules (everywhere) and Role rules (in the bot's namespace).
pub struct Grants {
    pub cluster: Vec<Rule>,
    pub namespace: String,
    pub local: Vec<Rule>,
}

impl Grants {
    /// The rules bound to the bot's ServiceAccount by the install manifests.
    pub fn from_install(objects: &[Value]) -> Grants {
        let sa = kind_named(objects, "ServiceAccount", "preview-bot");
        let namespace = sa["metadata"]["namespace"].as_str().unwrap().to_string();
        let bound_to_bot = |binding: &Value| {
            binding["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| {
                    s["kind"] == "ServiceAccount"
                        && s["name"] == "preview-bot"
                        && s["namespace"] == namespace.as_str()
                })
        };
        let mut cluster = Vec::new();
        let mut local = Vec::new();
        for binding in objects.iter().filter(|o| bound_to_bot(o)) {
            let role_ref = &binding["roleRef"];
            let role_name = role_ref["name"].as_str().unwrap();
            match (binding["kind"].as_str(), role_ref["kind"].as_str()) {
                (Some("ClusterRoleBinding"), Some("ClusterRole")) => {
                    cluster.extend(rules_of(kind_named(objects, "ClusterRole", role_name)))
                }
                (Some("RoleBinding"), Some("Role")) => {
                    assert_eq!(binding["metadata"]["namespace"], namespace.as_str());
                    local.extend(rules_of(kind_named(objects, "Role", role_name)))
                }
                other => panic!("unexpected binding {other:?}"),
            }
        }
        assert!(
            !cluster.is_empty() && !local.is_empty(),
            "both bindings ship"
        );
        Grants {
            cluster,
            namespace,
            local,
        }
    }

    pub fn allows(&self, access: &Access) -> bool {
        self.cluster.iter().any(|r| r.allows(access))
            || (access.namespace.as_deref() == Some(self.namespace.as_str())
                && self.local.iter().any(|r| r.allows(access)))
    }
}
