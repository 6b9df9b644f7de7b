//! The transforms of SPEC section 4 step 4, applied to every rendered object: namespace, refusal
//! of cluster-scoped kinds, ingress hosts, image pinning, `PREVIEW_*` environment, replica caps
//! (leaving replicas to an HPA where one targets the workload) and the bot's labels.

use crate::labels;
use crate::naming::{PreviewId, PreviewNamespace, Subject, sanitize};
use crate::render::Rendered;
use preview_config::{AppConfig, Config, template};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use thiserror::Error;

/// Kinds that are cluster-scoped in every Kubernetes release; the apply step also asks the API
/// server (discovery) so custom cluster-scoped kinds are refused too.
pub const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "PodSecurityPolicy",
    "CertificateSigningRequest",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "ClusterIssuer",
];

/// Workload kinds whose `spec.replicas` is capped.
const SCALABLE_KINDS: &[&str] = &["Deployment", "StatefulSet", "ReplicaSet"];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TransformError {
    #[error(
        "`{origin}`: {kind} `{name}` is cluster-scoped; previews may only contain namespaced objects"
    )]
    ClusterScoped {
        origin: String,
        kind: String,
        name: String,
    },
    #[error("`{origin}`: kind {kind} is not in `deploy.allowed_kinds`")]
    KindNotAllowed { origin: String, kind: String },
    #[error("`{origin}`: {kind} `{name}` is defined twice (also in `{first}`)")]
    Duplicate {
        origin: String,
        first: String,
        kind: String,
        name: String,
    },
    #[error("`{origin}`: {problem}")]
    Invalid { origin: String, problem: String },
}

/// What the transforms need to know about one preview.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewContext {
    pub app: String,
    pub subject: Subject,
    pub sha: String,
    pub branch: Option<String>,
    pub namespace: PreviewNamespace,
    /// `domains.base`, for templates rendered later (a template dependency's outputs).
    pub base: String,
    /// The preview's main host (host template applied).
    pub host: String,
    pub url: String,
    /// The app's image at this commit (image template applied), if configured.
    pub image: Option<String>,
    /// `PREVIEW_*` and the app's own variables, in injection order.
    pub env: Vec<(String, String)>,
    /// Variables read from Secrets (dependency connection URLs carry passwords).
    pub secret_env: Vec<SecretEnv>,
    pub max_replicas: u32,
    pub allowed_kinds: Vec<String>,
    /// Added to every pod spec (`deploy.node_selector`, `deploy.tolerations`).
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Value>,
    /// Added to every Ingress (`deploy.ingress_annotations`).
    pub ingress_annotations: BTreeMap<String, String>,
}

impl PreviewContext {
    /// Renders the templates of `config` for the preview of `app_name`'s PR `pr` at `sha`.
    pub fn new(
        config: &Config,
        app_name: &str,
        app: &AppConfig,
        pr: u64,
        sha: &str,
        branch: Option<&str>,
    ) -> PreviewContext {
        PreviewContext::for_id(config, &PreviewId::new(app_name, pr), app, sha, branch)
    }

    /// Renders the templates of `config` for preview `id` at `sha`.
    pub fn for_id(
        config: &Config,
        id: &PreviewId,
        app: &AppConfig,
        sha: &str,
        branch: Option<&str>,
    ) -> PreviewContext {
        let app_name = id.app.as_str();
        let namespace = id.namespace(&config.bot.namespace_prefix);
        let branch = id.branch_name().or(branch);
        let vars = TemplateVars {
            app: app_name,
            pr: id.pr(),
            sha,
            branch,
            namespace: namespace.as_str(),
            base: &config.domains.base,
        };
        // A branch preview has no PR number for `{pr}`: its namespace is unique and DNS-safe.
        let host_template = match &id.subject {
            Subject::Pr(_) => app
                .host_template
                .as_deref()
                .unwrap_or(&config.domains.host_template),
            Subject::Branch(_) => &config.domains.branch_host_template,
        };
        let host = vars.render(host_template);
        let url = format!("{}://{host}", config.domains.scheme);
        let mut env = vec![
            ("PREVIEW".to_string(), "true".to_string()),
            ("PREVIEW_URL".to_string(), url.clone()),
            (
                "PREVIEW_PR".to_string(),
                id.pr().map(|pr| pr.to_string()).unwrap_or_default(),
            ),
            ("PREVIEW_SHA".to_string(), sha.to_string()),
            ("PREVIEW_NAMESPACE".to_string(), namespace.to_string()),
        ];
        env.extend(app.env.iter().map(|(k, v)| (k.clone(), vars.render(v))));
        PreviewContext {
            app: app_name.to_string(),
            subject: id.subject.clone(),
            sha: sha.to_string(),
            branch: branch.map(str::to_string),
            host,
            url,
            image: app.image_template.as_deref().map(|t| vars.render(t)),
            namespace,
            base: config.domains.base.clone(),
            env,
            secret_env: Vec::new(),
            max_replicas: config.deploy.max_replicas,
            allowed_kinds: config.deploy.allowed_kinds.clone(),
            node_selector: config.deploy.node_selector.clone(),
            tolerations: config
                .deploy
                .tolerations
                .iter()
                .filter_map(|t| serde_json::to_value(t).ok())
                .collect(),
            ingress_annotations: config.deploy.ingress_annotations.clone(),
        }
    }

    /// The template values of this preview (`base` is `domains.base`).
    pub fn template_vars<'a>(&'a self, base: &'a str) -> TemplateVars<'a> {
        TemplateVars {
            app: &self.app,
            pr: self.id().pr(),
            sha: &self.sha,
            branch: self.branch.as_deref(),
            namespace: self.namespace.as_str(),
            base,
        }
    }

    pub fn id(&self) -> PreviewId {
        PreviewId {
            app: self.app.clone(),
            subject: self.subject.clone(),
        }
    }

    /// The labels put on every applied object.
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            (labels::MANAGED_BY, labels::MANAGED_BY_VALUE.to_string()),
            (labels::APP, self.app.clone()),
            labels::subject(&self.subject),
            (labels::PREVIEW, self.namespace.to_string()),
        ]
    }
}

/// A variable whose value comes from a key of a Secret in the preview namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretEnv {
    pub name: String,
    pub secret: String,
    pub key: String,
}

/// Values for `{placeholder}` templates (SPEC section 9).
pub struct TemplateVars<'a> {
    pub app: &'a str,
    /// None for a branch preview: `{pr}` renders empty.
    pub pr: Option<u64>,
    pub sha: &'a str,
    pub branch: Option<&'a str>,
    pub namespace: &'a str,
    pub base: &'a str,
}

impl TemplateVars<'_> {
    pub fn render(&self, text: &str) -> String {
        template::render(text, |name| {
            Some(match name {
                "app" => self.app.to_string(),
                "pr" => self.pr.map(|pr| pr.to_string()).unwrap_or_default(),
                "sha" => self.sha.to_string(),
                "short_sha" => self.sha.chars().take(7).collect(),
                "branch" => sanitize(self.branch.unwrap_or("")),
                "namespace" => self.namespace.to_string(),
                "base" => self.base.to_string(),
                _ => return None,
            })
        })
    }
}

/// The objects ready to apply, and what a user should know about them.
#[derive(Clone, Debug, PartialEq)]
pub struct Transformed {
    pub objects: Vec<Value>,
    pub warnings: Vec<String>,
    /// Every ingress host the preview serves.
    pub hosts: Vec<String>,
}

/// Applies every transform to every object; refuses the whole set on the first violation so
/// nothing is half-applied.
pub fn transform(
    rendered: Vec<Rendered>,
    ctx: &PreviewContext,
) -> Result<Transformed, TransformError> {
    let mut seen: Vec<((String, String), String)> = Vec::new();
    let hpa_targets = hpa_targets(&rendered);
    let mut out = Transformed {
        objects: Vec::with_capacity(rendered.len()),
        warnings: Vec::new(),
        hosts: Vec::new(),
    };
    let mut pinned_any = false;
    for Rendered { source, mut object } in rendered {
        let kind = text(&object, "/kind");
        let api_version = text(&object, "/apiVersion");
        let name = text(&object, "/metadata/name");
        if CLUSTER_SCOPED_KINDS.contains(&kind.as_str()) {
            return Err(TransformError::ClusterScoped {
                origin: source,
                kind,
                name,
            });
        }
        if !kind_allowed(&ctx.allowed_kinds, &api_version, &kind) {
            return Err(TransformError::KindNotAllowed {
                origin: source,
                kind,
            });
        }
        let key = (
            group_of(&api_version).to_string() + "/" + &kind,
            name.clone(),
        );
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            return Err(TransformError::Duplicate {
                origin: source,
                first: first.clone(),
                kind,
                name,
            });
        }
        seen.push((key, source.clone()));

        let metadata = object_at(&mut object, "metadata", &source)?;
        metadata.insert("namespace".into(), json!(ctx.namespace.as_str()));
        add_labels(metadata, ctx, &source)?;

        if kind == "Ingress" {
            rewrite_ingress_hosts(&mut object, ctx, &mut out.hosts, &source)?;
        }
        if kind == "Ingress" && !ctx.ingress_annotations.is_empty() {
            let metadata = object_at(&mut object, "metadata", &source)?;
            let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
            if let Some(annotations) = annotations.as_object_mut() {
                for (key, value) in &ctx.ingress_annotations {
                    annotations.insert(key.clone(), json!(value));
                }
            }
        }
        if SCALABLE_KINDS.contains(&kind.as_str()) {
            if hpa_targets.contains(&(kind.clone(), name.clone())) {
                // The HPA owns spec.replicas (SPEC 8a); applying it would fight the controller.
                if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("replicas");
                }
            } else {
                cap_replicas(&mut object, ctx.max_replicas);
            }
        }
        if kind == "HorizontalPodAutoscaler" {
            cap_hpa(&mut object, ctx.max_replicas);
        }
        for pod_spec in pod_specs(&mut object, &kind) {
            pinned_any |= pin_images(pod_spec, ctx.image.as_deref());
            inject_env(pod_spec, &env_entries(ctx), &source)?;
            schedule(pod_spec, ctx);
        }
        if let Some(template_meta) = pod_template_metadata(&mut object, &kind) {
            let labels = template_meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert(labels::PREVIEW.into(), json!(ctx.namespace.as_str()));
            }
        }
        out.objects.push(object);
    }
    if let Some(image) = &ctx.image
        && !pinned_any
    {
        out.warnings.push(format!(
            "no container uses the image repository of `{image}`, so no image was pinned to this commit"
        ));
    }
    if out.hosts.is_empty() {
        out.warnings
            .push("the manifests have no Ingress, so the preview has no URL".to_string());
    }
    Ok(out)
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

fn kind_allowed(allowed: &[String], api_version: &str, kind: &str) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| match entry.rsplit_once('/') {
            Some((group, k)) => k == kind && group == group_of(api_version),
            None => entry == kind,
        })
}

fn object_at<'a>(
    value: &'a mut Value,
    key: &str,
    source: &str,
) -> Result<&'a mut Map<String, Value>, TransformError> {
    value
        .as_object_mut()
        .and_then(|o| o.get_mut(key))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| TransformError::Invalid {
            origin: source.to_string(),
            problem: format!("`{key}` must be a mapping"),
        })
}

fn add_labels(
    metadata: &mut Map<String, Value>,
    ctx: &PreviewContext,
    source: &str,
) -> Result<(), TransformError> {
    let labels = metadata.entry("labels").or_insert_with(|| json!({}));
    let labels = labels
        .as_object_mut()
        .ok_or_else(|| TransformError::Invalid {
            origin: source.to_string(),
            problem: "`metadata.labels` must be a mapping".into(),
        })?;
    for (key, value) in ctx.labels() {
        labels.insert(key.to_string(), json!(value));
    }
    Ok(())
}

/// Every host of every rule and TLS block becomes a preview host: a single distinct host maps to
/// the preview's main host; with several, the first gets the main host and each other keeps its first DNS label as a prefix so they
/// stay distinct (`api.example.com` -> `api-collect-pr-42.preview.example.com`).
fn rewrite_ingress_hosts(
    object: &mut Value,
    ctx: &PreviewContext,
    hosts: &mut Vec<String>,
    source: &str,
) -> Result<(), TransformError> {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return Err(TransformError::Invalid {
            origin: source.to_string(),
            problem: "an Ingress needs a `spec`".into(),
        });
    };
    let mut originals: Vec<String> = Vec::new();
    let rules = spec
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for rule in &rules {
        if let Some(h) = rule.get("host").and_then(Value::as_str)
            && !originals.iter().any(|o| o == h)
        {
            originals.push(h.to_string());
        }
    }
    let map_host = |original: Option<&str>| -> String {
        match original {
            Some(h) if originals.len() > 1 && originals.first().is_some_and(|f| f != h) => {
                let label = sanitize(h.split('.').next().unwrap_or(h));
                format!("{label}-{}", ctx.host)
            }
            _ => ctx.host.clone(),
        }
    };
    if let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) {
        if rules.is_empty() {
            rules.push(json!({}));
        }
        for rule in rules.iter_mut() {
            let original = rule.get("host").and_then(Value::as_str).map(str::to_string);
            let host = map_host(original.as_deref());
            if let Some(rule) = rule.as_object_mut() {
                rule.insert("host".into(), json!(host));
            }
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
    } else if spec.contains_key("defaultBackend") && !hosts.contains(&ctx.host) {
        hosts.push(ctx.host.clone());
    }
    if let Some(tls) = spec.get_mut("tls").and_then(Value::as_array_mut) {
        for block in tls.iter_mut() {
            let mapped: Vec<Value> = block
                .get("hosts")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|h| json!(map_host(h.as_str())))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_else(|| vec![json!(ctx.host)]);
            let mut unique: Vec<Value> = Vec::new();
            for host in mapped {
                if !unique.contains(&host) {
                    unique.push(host);
                }
            }
            if let Some(block) = block.as_object_mut() {
                block.insert("hosts".into(), Value::Array(unique));
            }
        }
    }
    Ok(())
}

fn cap_replicas(object: &mut Value, max: u32) {
    if let Some(replicas) = object.pointer_mut("/spec/replicas")
        && replicas.as_u64().is_some_and(|r| r > u64::from(max))
    {
        *replicas = json!(max);
    }
}

fn cap_hpa(object: &mut Value, max: u32) {
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        if spec
            .get("maxReplicas")
            .and_then(Value::as_u64)
            .is_none_or(|r| r > u64::from(max))
        {
            spec.insert("maxReplicas".into(), json!(max));
        }
        if spec
            .get("minReplicas")
            .and_then(Value::as_u64)
            .is_some_and(|r| r > u64::from(max))
        {
            spec.insert("minReplicas".into(), json!(max));
        }
    }
}

/// `(kind, name)` of every workload an HPA in the set scales.
fn hpa_targets(rendered: &[Rendered]) -> HashSet<(String, String)> {
    rendered
        .iter()
        .filter(|r| r.object.get("kind").and_then(Value::as_str) == Some("HorizontalPodAutoscaler"))
        .filter_map(|r| {
            let target = r.object.pointer("/spec/scaleTargetRef")?;
            Some((
                target.get("kind")?.as_str()?.to_string(),
                target.get("name")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn pod_template_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => "/spec/template",
        "CronJob" => "/spec/jobTemplate/spec/template",
        _ => return None,
    })
}

fn pod_template_metadata<'a>(
    object: &'a mut Value,
    kind: &str,
) -> Option<&'a mut Map<String, Value>> {
    let template = object
        .pointer_mut(pod_template_pointer(kind)?)?
        .as_object_mut()?;
    template
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
}

/// The pod spec of a Pod or of any workload's pod template.
fn pod_specs<'a>(object: &'a mut Value, kind: &str) -> Vec<&'a mut Map<String, Value>> {
    let pointer = match kind {
        "Pod" => "/spec".to_string(),
        other => match pod_template_pointer(other) {
            Some(p) => format!("{p}/spec"),
            None => return Vec::new(),
        },
    };
    object
        .pointer_mut(&pointer)
        .and_then(Value::as_object_mut)
        .into_iter()
        .collect()
}

fn containers(pod_spec: &mut Map<String, Value>) -> impl Iterator<Item = &mut Map<String, Value>> {
    pod_spec
        .iter_mut()
        .filter(|(key, _)| matches!(key.as_str(), "containers" | "initContainers"))
        .filter_map(|(_, list)| list.as_array_mut())
        .flat_map(|list| list.iter_mut())
        .filter_map(Value::as_object_mut)
}

/// The repository part of an image reference (no tag, no digest).
pub fn image_repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

/// Pins containers running the app's own image repository to the commit's image.
fn pin_images(pod_spec: &mut Map<String, Value>, image: Option<&str>) -> bool {
    let Some(image) = image else { return false };
    let repository = image_repository(image);
    let mut pinned = false;
    for container in containers(pod_spec) {
        let current = container
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if image_repository(current) == repository {
            container.insert("image".into(), json!(image));
            pinned = true;
        }
    }
    pinned
}

/// Puts the pod where previews belong: the configured node selector (merged over the
/// manifest's) and tolerations (added once).
fn schedule(pod_spec: &mut Map<String, Value>, ctx: &PreviewContext) {
    if !ctx.node_selector.is_empty() {
        let selector = pod_spec.entry("nodeSelector").or_insert_with(|| json!({}));
        if let Some(selector) = selector.as_object_mut() {
            for (key, value) in &ctx.node_selector {
                selector.insert(key.clone(), json!(value));
            }
        }
    }
    if !ctx.tolerations.is_empty() {
        let list = pod_spec.entry("tolerations").or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            for toleration in &ctx.tolerations {
                if !list.contains(toleration) {
                    list.push(toleration.clone());
                }
            }
        }
    }
}

/// The pod-template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Stamps `at` on the pod template of a Deployment, StatefulSet or DaemonSet, so the change rolls
/// its pods as `kubectl rollout restart` does. Jobs are left alone: their template is immutable.
pub fn stamp_restart(object: &mut Value, at: &str) {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet") {
        return;
    }
    let Some(template) = object
        .pointer_mut("/spec/template")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let metadata = template.entry("metadata").or_insert_with(|| json!({}));
    if let Some(metadata) = metadata.as_object_mut() {
        let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(RESTARTED_AT.into(), json!(at));
        }
    }
}

/// Applies the scheduling rules to the pod template of an object the transform did not produce
/// (dependencies), so every pod of a preview lands on the same nodes.
pub fn schedule_object(object: &mut Value, ctx: &PreviewContext) {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for pod_spec in pod_specs(object, &kind) {
        schedule(pod_spec, ctx);
    }
}

/// The container `env` entries every pod gets: plain values, then Secret references.
fn env_entries(ctx: &PreviewContext) -> Vec<(String, Value)> {
    let plain = ctx
        .env
        .iter()
        .map(|(name, value)| (name.clone(), json!({"name": name, "value": value})));
    let from_secrets = ctx.secret_env.iter().map(|e| {
        (
            e.name.clone(),
            json!({"name": e.name, "valueFrom": {"secretKeyRef": {"name": e.secret, "key": e.key}}}),
        )
    });
    plain.chain(from_secrets).collect()
}

/// Sets each variable in every container, replacing an existing entry of the same name in place
/// (the preview's value wins over the manifest's).
fn inject_env(
    pod_spec: &mut Map<String, Value>,
    env: &[(String, Value)],
    source: &str,
) -> Result<(), TransformError> {
    for container in containers(pod_spec) {
        let list = container.entry("env").or_insert_with(|| json!([]));
        let list = list.as_array_mut().ok_or_else(|| TransformError::Invalid {
            origin: source.to_string(),
            problem: "a container's `env` must be a list".into(),
        })?;
        for (name, entry) in env {
            let entry = entry.clone();
            match list
                .iter_mut()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(name.as_str()))
            {
                Some(existing) => *existing = entry,
                None => list.push(entry),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
