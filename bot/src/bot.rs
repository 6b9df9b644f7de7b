//! The running bot: the engine plus what the HTTP ingress needs (secrets, dedupe, background).

use crate::background::Background;
use crate::engine::Engine;
use preview_config::Secret;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// How many GitHub delivery ids are remembered to drop duplicates.
const REMEMBERED_DELIVERIES: usize = 10_000;

pub struct Bot {
    pub engine: Arc<Engine>,
    pub slack_signing_secret: Option<Secret>,
    pub github_webhook_secret: Option<Secret>,
    /// `PREVIEW_BOT_ADMIN_TOKEN`: the bearer token of `POST /admin/kill-switch` (disabled
    /// without it).
    pub admin_token: Option<Secret>,
    /// Opens the status and logs pages (`PREVIEW_BOT_STATUS_TOKEN`); `None`: only what
    /// `[status] public` allows.
    pub status_token: Option<Secret>,
    pub background: Background,
    deliveries: Mutex<(VecDeque<String>, HashSet<String>)>,
    /// Unix seconds; replaceable so tests can check the replay window.
    pub now: fn() -> i64,
}

impl Bot {
    pub fn new(
        engine: Arc<Engine>,
        slack_signing_secret: Option<Secret>,
        github_webhook_secret: Option<Secret>,
    ) -> Bot {
        Bot {
            engine,
            slack_signing_secret,
            github_webhook_secret,
            admin_token: None,
            status_token: None,
            background: Background::default(),
            deliveries: Mutex::new((VecDeque::new(), HashSet::new())),
            now: || chrono::Utc::now().timestamp(),
        }
    }

    /// Enables the admin endpoint with this bearer token.
    pub fn with_admin_token(mut self, token: Option<Secret>) -> Bot {
        self.admin_token = token;
        self
    }

    /// True the first time a delivery id is seen.
    pub fn first_delivery(&self, id: &str) -> bool {
        let mut guard = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        let (order, seen) = &mut *guard;
        if !seen.insert(id.to_string()) {
            return false;
        }
        order.push_back(id.to_string());
        if order.len() > REMEMBERED_DELIVERIES
            && let Some(old) = order.pop_front()
        {
            seen.remove(&old);
        }
        true
    }
}
