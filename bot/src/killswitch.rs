//! The on-call kill switch (SPEC section 7): `on [REASON] [--scale-to-zero | --teardown]`,
//! `off [--restore]` and `status`. The state lives in the ConfigMap of the bot's namespace, so
//! it survives restarts and holds for every replica; every use is announced in the ops channel.

use crate::engine::{Engine, Outcome, PreviewRef};
use crate::origin::Origin;
use chrono::{DateTime, Utc};
use preview_commands::{FreezeMode, KillSwitch};
use preview_deploy::ops::{AuditEntry, FreezeLevel, KillSwitchState, PendingTeardown};
use preview_deploy::{Phase, PreviewNamespace};
use std::collections::BTreeMap;

/// The `action_id` of the Slack button that confirms a pending `--teardown`.
pub const CONFIRM_TEARDOWN_ACTION: &str = "kill_switch_confirm_teardown";

/// The answer to a pending `--teardown` in Slack: the text and a button that confirms it (with
/// Slack's own "are you sure" dialog), as an alternative to typing the command again.
pub fn confirm_teardown_blocks(text: &str) -> serde_json::Value {
    serde_json::json!([
        { "type": "section", "text": { "type": "mrkdwn", "text": text } },
        { "type": "actions", "elements": [{
            "type": "button",
            "action_id": CONFIRM_TEARDOWN_ACTION,
            "style": "danger",
            "text": { "type": "plain_text", "text": "Tear down every preview" },
            "value": "confirm",
            "confirm": {
                "title": { "type": "plain_text", "text": "Tear down every preview?" },
                "text": { "type": "mrkdwn", "text": "Every preview namespace the bot manages is deleted." },
                "confirm": { "type": "plain_text", "text": "Tear down" },
                "deny": { "type": "plain_text", "text": "Cancel" }
            }
        }]}
    ])
}

/// Whether a `--teardown` waits for its confirmation now.
pub async fn teardown_pending(engine: &Engine) -> bool {
    engine
        .ops
        .kill_switch()
        .await
        .is_ok_and(|state| state.active && state.pending_teardown.is_some())
}

/// How long a `--teardown` waits for its confirmation.
pub const TEARDOWN_CONFIRM_WINDOW: chrono::Duration = chrono::Duration::minutes(5);
/// Audit entries `status` shows.
const STATUS_AUDIT_ENTRIES: usize = 5;

pub fn level(mode: FreezeMode) -> FreezeLevel {
    match mode {
        FreezeMode::Freeze => FreezeLevel::Freeze,
        FreezeMode::ScaleToZero => FreezeLevel::ScaleToZero,
        FreezeMode::Teardown => FreezeLevel::Teardown,
    }
}

/// Runs a kill-switch command already authorized for `origin`. `confirmed` skips the
/// teardown confirmation (the admin endpoint's `"confirm": true`).
pub async fn run(
    engine: &Engine,
    command: &KillSwitch,
    origin: &Origin,
    confirmed: bool,
) -> Outcome {
    match command {
        KillSwitch::Status => status(engine).await,
        KillSwitch::On { reason, mode } => {
            on(engine, reason.as_deref(), level(*mode), origin, confirmed).await
        }
        KillSwitch::Off { restore } => off(engine, *restore, origin).await,
    }
}

fn when(time: Option<DateTime<Utc>>) -> String {
    time.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "an unknown time".into())
}

fn quoted_reason(state: &KillSwitchState) -> String {
    match state.reason.as_deref() {
        Some(reason) if !reason.is_empty() => format!(": \"{reason}\""),
        _ => " (no reason given)".into(),
    }
}

/// What a refused `up`/`redeploy`/`seed`/`point` says while the switch is on.
pub fn frozen_message(state: &KillSwitchState, what: &str, prefix: &str) -> String {
    format!(
        "{what} was not changed: previews are frozen by the kill switch since {}, set by {}{}. On-call lifts it with `{prefix} kill-switch off`.",
        when(state.since),
        state.by.as_deref().unwrap_or("someone"),
        quoted_reason(state),
    )
}

fn scaled_summary(state: &KillSwitchState) -> Option<String> {
    let workloads: usize = state.scaled.values().map(BTreeMap::len).sum();
    (workloads > 0).then(|| {
        format!(
            "{workloads} workload(s) in {} preview(s) are scaled to zero",
            state.scaled.len()
        )
    })
}

async fn status(engine: &Engine) -> Outcome {
    let prefix = &engine.config.bot.command_prefix;
    let state = match engine.ops.kill_switch().await {
        Ok(state) => state,
        Err(e) => return Outcome::refused(format!("I couldn't read the kill switch: {e}")),
    };
    let mut text = if state.active {
        let mut line = format!(
            "Kill switch: *ON* since {}, set by {}{} ({}).",
            when(state.since),
            state.by.as_deref().unwrap_or("someone"),
            quoted_reason(&state),
            state.level.describe()
        );
        line.push_str(&format!(
            "\n`up`, `redeploy`, `seed` and `point` are refused until on-call runs `{prefix} kill-switch off`."
        ));
        line
    } else {
        match (&state.lifted_by, state.lifted_at) {
            (Some(by), Some(at)) => {
                format!("Kill switch: off (lifted by {by} at {}).", when(Some(at)))
            }
            _ => "Kill switch: off.".to_string(),
        }
    };
    if let Some(scaled) = scaled_summary(&state) {
        text.push_str(&format!(
            "\n{scaled}; `{prefix} kill-switch off --restore` brings them back."
        ));
    }
    if let Some(pending) = &state.pending_teardown {
        text.push_str(&format!(
            "\nA teardown of all previews asked by {} at {} awaits confirmation.",
            pending.by,
            when(Some(pending.at))
        ));
    }
    match engine.audit.recent(STATUS_AUDIT_ENTRIES).await {
        Ok(entries) if entries.is_empty() => text.push_str("\nNo audited actions yet."),
        Ok(entries) => {
            text.push_str("\nRecent actions:");
            for entry in &entries {
                text.push_str(&format!("\n• {}", audit_line(entry)));
            }
        }
        Err(e) => text.push_str(&format!("\n(The audit log could not be read: {e}.)")),
    }
    Outcome::ok(text)
}

fn audit_line(entry: &AuditEntry) -> String {
    format!(
        "{} {} via {}: `{}` {} → {}{}",
        entry.time.format("%m-%d %H:%M"),
        entry.actor,
        entry.source,
        entry.action,
        entry.target,
        entry.outcome.as_str(),
        if entry.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", entry.detail)
        }
    )
}

async fn on(
    engine: &Engine,
    reason: Option<&str>,
    level: FreezeLevel,
    origin: &Origin,
    confirmed: bool,
) -> Outcome {
    let prefix = engine.config.bot.command_prefix.clone();
    let actor = origin.actor();
    let now = Utc::now();
    let mut was_active = None;
    let mut teardown_confirmed = confirmed;
    let saved = engine
        .update_kill_switch(|state| {
            was_active = state.active.then(|| state.clone());
            if !state.active {
                state.active = true;
                state.by = Some(actor.clone());
                state.since = Some(now);
                state.reason = reason.map(str::to_string);
                state.level = FreezeLevel::Freeze;
                state.lifted_by = None;
                state.lifted_at = None;
            } else if let Some(reason) = reason {
                state.reason = Some(reason.to_string());
            }
            // Escalate, never de-escalate: `on` again without flags keeps what runs.
            let applied = if level == FreezeLevel::Teardown {
                let pending_ok = state
                    .pending_teardown
                    .as_ref()
                    .is_some_and(|p| now - p.at <= TEARDOWN_CONFIRM_WINDOW);
                teardown_confirmed = confirmed || pending_ok;
                if teardown_confirmed {
                    state.pending_teardown = None;
                    FreezeLevel::Teardown
                } else {
                    state.pending_teardown = Some(PendingTeardown {
                        by: actor.clone(),
                        at: now,
                    });
                    FreezeLevel::Freeze
                }
            } else {
                level
            };
            if rank(applied) > rank(state.level) {
                state.level = applied;
            }
            true
        })
        .await;
    let state = match saved {
        Ok(state) => state,
        Err(e) => {
            return Outcome::refused(format!(
                "The kill switch could not be turned on: {e}. Nothing was changed; try again (or use the admin endpoint)."
            ));
        }
    };
    // Deploys already running here stop at their next safe point; other replicas' stop as soon
    // as their watch of the state ConfigMap sees the switch (or, with their watch down, at the
    // safe point before their app wave, where every deploy reads the switch again).
    engine.stop_running_deploys();
    let mut text = match &was_active {
        None => format!(
            "🛑 Kill switch ON, set by {actor}{}. `up`, `redeploy`, `seed` and `point` (and PR-triggered deploys) are refused until `{prefix} kill-switch off`.",
            quoted_reason(&state)
        ),
        Some(before) => format!(
            "🛑 The kill switch was already on (set by {} since {}); it stays on{}.",
            before.by.as_deref().unwrap_or("someone"),
            when(before.since),
            quoted_reason(&state)
        ),
    };
    match level {
        FreezeLevel::Freeze => {}
        FreezeLevel::ScaleToZero => text.push_str(&format!("\n{}", scale_all(engine).await)),
        FreezeLevel::Teardown if teardown_confirmed => {
            text.push_str(&format!("\n{}", teardown_all(engine, origin).await))
        }
        FreezeLevel::Teardown => {
            let names = match engine.cluster.inventory().await {
                Ok(inventory) => inventory
                    .previews
                    .iter()
                    .filter(|r| r.phase != Phase::Terminating)
                    .map(|r| format!("`{}`", r.id))
                    .collect::<Vec<_>>(),
                Err(e) => vec![format!("(the list could not be read: {e})")],
            };
            text.push_str(&format!(
                "\n`--teardown` deletes every preview ({} now: {}). To confirm, run `{prefix} kill-switch on --teardown` again within {} minutes.",
                names.len(),
                if names.is_empty() { "none".to_string() } else { names.join(", ") },
                TEARDOWN_CONFIRM_WINDOW.num_minutes()
            ));
        }
    }
    engine.notifier.announce_ops(&text).await;
    Outcome::ok(text)
}

/// Finishes a `--scale-to-zero` or `--teardown` a restart interrupted (both skip what is
/// already done).
pub async fn finish_interrupted(engine: &Engine, level: FreezeLevel) {
    let text = match level {
        FreezeLevel::Freeze => return,
        FreezeLevel::ScaleToZero => scale_all(engine).await,
        FreezeLevel::Teardown => teardown_all(engine, &Origin::Bot).await,
    };
    tracing::info!(result = %text, "kill switch: finished after a restart");
}

fn rank(level: FreezeLevel) -> u8 {
    match level {
        FreezeLevel::Freeze => 0,
        FreezeLevel::ScaleToZero => 1,
        FreezeLevel::Teardown => 2,
    }
}

/// Scales every running preview to zero and remembers the counts, one preview at a time so a
/// crash keeps what was already recorded.
async fn scale_all(engine: &Engine) -> String {
    let prefix = &engine.config.bot.command_prefix;
    let inventory = match engine.cluster.inventory().await {
        Ok(inventory) => inventory,
        Err(e) => return format!("Scaling to zero failed: the previews could not be listed: {e}"),
    };
    let (mut workloads, mut previews, mut failures) = (0, 0, Vec::new());
    for record in inventory
        .previews
        .iter()
        .filter(|r| r.phase != Phase::Terminating)
    {
        let ns = &record.namespace;
        match engine.cluster.scale_to_zero(ns).await {
            Ok(counts) if counts.is_empty() => {}
            Ok(counts) => {
                workloads += counts.len();
                previews += 1;
                let key = ns.to_string();
                let saved = engine
                    .update_kill_switch(|state| {
                        let entry = state.scaled.entry(key.clone()).or_default();
                        for (workload, replicas) in &counts {
                            // Keep the first count remembered: a second scale sees zeros.
                            entry.entry(workload.clone()).or_insert(*replicas);
                        }
                        true
                    })
                    .await;
                if let Err(e) = saved {
                    failures.push(format!(
                        "`{}`: scaled, but the counts were not saved: {e}",
                        record.id
                    ));
                }
            }
            Err(e) => failures.push(format!("`{}`: {e}", record.id)),
        }
    }
    let mut text = format!(
        "Scaled {workloads} workload(s) in {previews} preview(s) to zero; `{prefix} kill-switch off --restore` brings them back."
    );
    if !failures.is_empty() {
        text.push_str(&format!("\nNot scaled:\n{}", failures.join("\n")));
    }
    text
}

/// Deletes every preview the bot manages (only namespaces with its label and prefix).
async fn teardown_all(engine: &Engine, origin: &Origin) -> String {
    let inventory = match engine.cluster.inventory().await {
        Ok(inventory) => inventory,
        Err(e) => return format!("Teardown failed: the previews could not be listed: {e}"),
    };
    let (mut done, mut failures) = (0, Vec::new());
    for record in &inventory.previews {
        let preview = PreviewRef::of(record);
        match engine.down(&preview, origin, true).await {
            Some(outcome) if !outcome.ok => failures.push(outcome.text),
            _ => done += 1,
        }
    }
    for unreadable in &inventory.unreadable {
        let Some(ns) = PreviewNamespace::parse(&unreadable.namespace, engine.cluster.prefix())
        else {
            continue;
        };
        match engine.cluster.teardown(&ns).await {
            Ok(_) => done += 1,
            Err(e) => failures.push(format!("`{ns}`: {e}")),
        }
    }
    let mut text = format!("Tore down {done} preview(s).");
    if !failures.is_empty() {
        text.push_str(&format!("\nNot torn down:\n{}", failures.join("\n")));
    }
    text
}

async fn off(engine: &Engine, restore: bool, origin: &Origin) -> Outcome {
    let prefix = &engine.config.bot.command_prefix;
    let actor = origin.actor();
    let now = Utc::now();
    let mut was_active = false;
    let saved = engine
        .update_kill_switch(|state| {
            was_active = state.active;
            if !state.active {
                return false;
            }
            state.active = false;
            state.pending_teardown = None;
            state.lifted_by = Some(actor.clone());
            state.lifted_at = Some(now);
            true
        })
        .await;
    let state = match saved {
        Ok(state) => state,
        Err(e) => {
            return Outcome::refused(format!(
                "The kill switch could not be turned off: {e}. It is still on; try again."
            ));
        }
    };
    let mut text = if was_active {
        format!("✅ Kill switch OFF, lifted by {actor}. Previews can be deployed again.")
    } else {
        "The kill switch is already off.".to_string()
    };
    if restore {
        text.push_str(&format!("\n{}", restore_all(engine, &state).await));
    } else if let Some(scaled) = scaled_summary(&state) {
        text.push_str(&format!(
            "\n{scaled}; `{prefix} kill-switch off --restore` brings them back."
        ));
    }
    if was_active || restore {
        engine.notifier.announce_ops(&text).await;
    }
    Outcome::ok(text)
}

/// Gives every preview the replica counts `--scale-to-zero` recorded; what could not be
/// restored stays recorded for another `off --restore`.
async fn restore_all(engine: &Engine, state: &KillSwitchState) -> String {
    if state.scaled.is_empty() {
        return "Nothing to restore: no workload was scaled down by the kill switch.".into();
    }
    let (mut workloads, mut failures) = (0, Vec::new());
    let mut restored = Vec::new();
    for (namespace, counts) in &state.scaled {
        let Some(ns) = PreviewNamespace::parse(namespace, engine.cluster.prefix()) else {
            restored.push(namespace.clone());
            continue;
        };
        match engine.cluster.get_record(&ns).await {
            // Torn down meanwhile: nothing to bring back.
            Ok(None) => restored.push(namespace.clone()),
            Ok(Some(_)) => match engine.cluster.restore_scale(&ns, counts).await {
                Ok(()) => {
                    workloads += counts.len();
                    restored.push(namespace.clone());
                }
                Err(e) => failures.push(format!("`{ns}`: {e}")),
            },
            Err(e) => failures.push(format!("`{ns}`: {e}")),
        }
    }
    let forgotten = engine
        .update_kill_switch(|state| {
            for namespace in &restored {
                state.scaled.remove(namespace);
            }
            true
        })
        .await;
    let mut text = format!("Restored {workloads} workload(s) to their recorded replicas.");
    if let Err(e) = forgotten {
        text.push_str(&format!(
            " (The restored counts could not be cleared from the state: {e}.)"
        ));
    }
    if !failures.is_empty() {
        text.push_str(&format!(
            "\nNot restored (run `off --restore` again):\n{}",
            failures.join("\n")
        ));
    }
    text
}
