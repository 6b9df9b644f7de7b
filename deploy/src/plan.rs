//! What an `up` applies, computed before it is applied: the namespace's guardrails
//! ([`policies`]), the dependency wave and the app wave ([`plan`]). `up` applies the guardrails
//! while it downloads the repository, then the plan wave by wave; `preview-bot render` prints
//! all of it. Only what needs the cluster is left out: Secrets copied from other namespaces,
//! and the passwords of dependencies that already run (passed in).

use crate::dependencies;
use crate::guardrails;
use crate::render::{self, RenderError};
use crate::sources::{self, KustomizeProgram};
use crate::transform::{self, PreviewContext, Transformed};
use crate::upstreams;
use preview_config::{AppConfig, Config, ManifestSource};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The waves of one preview at one commit.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Dependencies (built-in and templates), applied and awaited before the app.
    pub dependencies: Vec<Value>,
    /// The app with its upstream Services.
    pub app: Transformed,
    /// The preview's context with the dependencies' variables injected (seeds use it).
    pub ctx: PreviewContext,
}

/// What a plan needs besides the config and the checkout.
pub struct PlanInputs<'a> {
    /// Upstream service -> the host it is pointed at (absent: staging).
    pub pointers: &'a BTreeMap<String, String>,
    /// The password a running dependency already has, to keep it.
    pub existing_password: &'a dyn Fn(&str) -> Option<String>,
    pub kustomize: &'a KustomizeProgram,
    pub kustomize_timeout: Duration,
}

/// The namespace's guardrails (ResourceQuota, LimitRange), transformed.
pub fn policies(config: &Config, ctx: &PreviewContext) -> Result<Vec<Value>, String> {
    let policies = guardrails::namespace_policies(&config.deploy);
    if policies.is_empty() {
        return Ok(Vec::new());
    }
    Ok(transform::transform(policies, ctx)
        .map_err(|e| e.to_string())?
        .objects)
}

/// Renders and transforms the dependency and app waves of `app` from the checkout at `root`. Blocking (it may run
/// `kubectl kustomize`): call it off the async runtime.
pub fn plan(
    config: &Config,
    app: &AppConfig,
    ctx: &PreviewContext,
    root: &Path,
    inputs: &PlanInputs<'_>,
) -> Result<Plan, String> {
    let mut ctx = ctx.clone();
    let mut dependency_objects = Vec::new();
    if !app.dependencies.is_empty() {
        let planned = dependencies::plan(&ctx, &app.dependencies, inputs.existing_password);
        dependency_objects = planned.objects.clone();
        for object in &mut dependency_objects {
            transform::schedule_object(object, &ctx);
        }
        // Template dependencies are the team's own manifests: transformed like the app's,
        // before the app's context gets the dependencies' outputs.
        for (name, dependency) in &app.dependencies {
            let Some(dir) = &dependency.manifests else {
                continue;
            };
            let rendered =
                render::render_dir(root, dir).map_err(|e| format!("dependency `{name}`: {e}"))?;
            let filled = dependencies::template_objects(&ctx, name, rendered);
            let transformed = transform::transform(filled, &ctx)
                .map_err(|e| format!("dependency `{name}`: {e}"))?;
            dependency_objects.extend(transformed.objects);
        }
        planned.inject_into(&mut ctx);
    }
    let image_vars = ctx.template_vars(&config.domains.base);
    let mut rendered = match app.manifests.source().map_err(RenderError::Unsupported) {
        Ok(ManifestSource::Dir(dir)) => render::render_dir(root, &dir),
        Ok(ManifestSource::Kustomize(path)) => {
            sources::render_kustomize(root, &path, inputs.kustomize, inputs.kustomize_timeout)
        }
        Ok(ManifestSource::Image { image, port }) => Ok(sources::render_image_app(
            &ctx.app,
            &image_vars.render(&image),
            port,
        )),
        Err(e) => Err(e),
    }
    .map_err(|e| e.to_string())?;
    rendered.extend(upstreams::services(&app.upstreams, inputs.pointers));
    let app_wave = transform::transform(rendered, &ctx).map_err(|e| e.to_string())?;
    Ok(Plan {
        dependencies: dependency_objects,
        app: app_wave,
        ctx,
    })
}
