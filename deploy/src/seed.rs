//! Seed jobs (SPEC section 4 step 9): migrations and seed data run as a Job in the preview, with
//! the same `PREVIEW_*` and dependency variables as the app (the transform adds them).

use crate::render::Rendered;
use serde_json::{Value, json};

/// On every seed Job: lets the bot find a seed that is still running.
pub const SEED_LABEL: &str = "preview-bot.dev/seed";
/// The variable carrying `/preview seed DATASET` into the job.
pub const DATASET_ENV: &str = "PREVIEW_SEED_DATASET";

/// A one-shot Job (no retries: a failed seed is reported, not repeated behind the user's back),
/// cleaned up a day after it finishes.
pub fn job(
    name: &str,
    image: &str,
    command: &[String],
    dataset: Option<&str>,
    timeout_secs: u64,
) -> Rendered {
    let labels = json!({ SEED_LABEL: "true" });
    let mut env = Vec::new();
    if let Some(dataset) = dataset {
        env.push(json!({"name": DATASET_ENV, "value": dataset}));
    }
    Rendered {
        source: "seed job".into(),
        object: json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": timeout_secs,
                "ttlSecondsAfterFinished": 86_400,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "seed",
                            "image": image,
                            "command": command,
                            "env": env,
                        }]
                    }
                }
            }
        }),
    }
}

/// `seed-{short sha}-{unix seconds}`: unique per run, and a valid name.
pub fn job_name(sha: &str, unix_seconds: i64) -> String {
    let short: String = sha.chars().take(7).collect();
    format!("seed-{short}-{unix_seconds}")
}

/// True while a seed Job has neither completed nor failed.
pub fn is_running(job: &Value) -> bool {
    let finished = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True"
            })
        });
    !finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_job_is_one_shot_and_carries_the_dataset() {
        let job = job(
            &job_name(&"a".repeat(40), 1_700_000_000),
            "img:1",
            &["./seed".into()],
            Some("demo"),
            600,
        );
        assert_eq!(job.object["metadata"]["name"], "seed-aaaaaaa-1700000000");
        assert_eq!(job.object["spec"]["backoffLimit"], 0);
        assert_eq!(
            job.object["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
            "demo"
        );
        assert!(is_running(&job.object));
        let mut done = job.object.clone();
        done["status"] = json!({"conditions": [{"type": "Complete", "status": "True"}]});
        assert!(!is_running(&done));
    }
}
