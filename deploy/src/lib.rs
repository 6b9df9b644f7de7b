//! Everything preview-bot knows about Kubernetes, and nothing about chat: preview identity and
//! namespace naming, the namespace record, repository archives, rendering, the transforms of
//! SPEC section 4 step 4, server-side apply, waiting for readiness, teardown and inventory.

pub mod archive;
pub mod cluster;
pub mod cost;
pub mod dependencies;
pub mod guardrails;
pub mod labels;
pub mod naming;
pub mod ops;
pub mod plan;
pub mod record;
pub mod render;
pub mod scale;
pub mod schedule_state;
pub mod seed;
pub mod sources;
pub mod transform;
pub mod upstreams;

pub use cluster::{Cluster, DeployError, ReadyReport};
pub use naming::{PreviewId, PreviewNamespace, Subject};
pub use record::{Phase, PreviewRecord};
pub use render::RenderError;
pub use transform::{PreviewContext, TransformError, Transformed};
