//! preview-bot: a live, isolated preview of the application on Kubernetes for every pull
//! request, driven from Slack and GitHub. This crate wires the pure command language
//! (`preview-commands`) and the Kubernetes engine (`preview-deploy`) to Slack, GitHub and HTTP.

pub mod audit;
pub mod background;
pub mod bot;
pub mod clock;
pub mod dispatch;
pub mod engine;
pub mod exec;
pub mod github;
pub mod http;
pub mod killswitch;
pub mod killswitch_view;
pub mod kube_client;
pub mod lifecycle;
pub mod lifetime;
pub mod messages;
pub mod metrics;
pub mod notify;
pub mod origin;
pub mod policy;
pub mod recovery;
pub mod replies;
pub mod retry;
pub mod schedule;
pub mod signature;
pub mod slack;
pub mod slack_requests;
pub mod slack_socket;
pub mod source;
pub mod status_page;
pub mod supersede;
#[cfg(feature = "testdrive")]
pub mod testdrive;

pub use bot::Bot;
pub use engine::Engine;
