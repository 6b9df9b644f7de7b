use super::*;
use preview_config::Config;
use std::cell::RefCell;

const CONFIG: &str = r#"
[bot]
public_url = "https://preview-bot.example.com"
[domains]
base = "preview.example.com"
[apps.collect]
repo = "acme/collect"
manifests = { dir = "deploy" }

[apps.collect.dependencies.db]
kind = "postgres"

[apps.collect.dependencies.cache]
kind = "redis"
version = "7.4"

[apps.collect.dependencies.payments]
kind = "shared"
url = "https://payments.staging.svc.cluster.local"
env = "PAYMENTS_URL"

[apps.other]
repo = "acme/other"
manifests = { dir = "deploy" }

[apps.other.dependencies.mysql]
kind = "mysql"

[apps.other.dependencies.mongo]
kind = "mongodb"
env = "MONGO_URL"
"#;

fn context(app: &str) -> (PreviewContext, BTreeMap<String, DependencyConfig>) {
    let config = Config::parse(CONFIG, "test.toml").expect("config");
    let app_config = &config.apps[app];
    let ctx = PreviewContext::new(&config, app, app_config, 42, "0123456789abcdef", None);
    (ctx, app_config.dependencies.clone())
}

fn decoded(secret: &Value, key: &str) -> String {
    let bytes: k8s_openapi::ByteString =
        serde_json::from_value(secret["data"][key].clone()).expect("base64");
    String::from_utf8(bytes.0).expect("utf-8")
}

/// The objects with each Secret's `data` decoded, so the snapshot shows what a reviewer checks.
fn readable(objects: &[Value]) -> Vec<Value> {
    objects
        .iter()
        .map(|object| {
            let mut object = object.clone();
            if object["kind"] == "Secret" {
                let keys: Vec<String> = object["data"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                let plain: Map<String, Value> = keys
                    .iter()
                    .map(|k| (k.clone(), json!(decoded(&object, k))))
                    .collect();
                object["data"] = json!({"(decoded for the snapshot)": plain});
            }
            object
        })
        .collect()
}

#[test]
fn postgres_redis_and_shared_are_pinned() {
    let (ctx, deps) = context("collect");
    let plan = plan(&ctx, &deps, &|secret: &str| Some(format!("kept-{secret}")));
    assert_eq!(plan.workloads, ["cache", "db"]);
    assert_eq!(
        plan.env,
        [
            EnvBinding {
                name: "REDIS_URL".into(),
                value: EnvValue::SecretKey {
                    secret: "cache-credentials".into(),
                    key: "url".into()
                },
            },
            EnvBinding {
                name: "DATABASE_URL".into(),
                value: EnvValue::SecretKey {
                    secret: "db-credentials".into(),
                    key: "url".into()
                },
            },
            EnvBinding {
                name: "PAYMENTS_URL".into(),
                value: EnvValue::Plain("https://payments.staging.svc.cluster.local".into()),
            },
        ]
    );
    insta::assert_yaml_snapshot!(readable(&plan.objects));
}

#[test]
fn mysql_and_mongodb_are_pinned() {
    let (ctx, deps) = context("other");
    let plan = plan(&ctx, &deps, &|_: &str| Some("s3cret".to_string()));
    assert_eq!(plan.workloads, ["mongo", "mysql"]);
    insta::assert_yaml_snapshot!(readable(&plan.objects));
}

#[test]
fn connection_urls_per_kind() {
    let (ctx, deps) = context("collect");
    let plan = plan(&ctx, &deps, &|_: &str| Some("pw".to_string()));
    let secret = |name: &str| {
        plan.objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
            .expect("secret")
            .clone()
    };
    let db = secret("db-credentials");
    assert_eq!(decoded(&db, "url"), "postgres://preview:pw@db:5432/preview");
    assert_eq!(decoded(&db, "username"), "preview");
    assert_eq!(decoded(&db, "database"), "preview");
    assert_eq!(decoded(&db, "password"), "pw");
    let cache = secret("cache-credentials");
    assert_eq!(decoded(&cache, "url"), "redis://:pw@cache:6379/0");
    assert!(cache["data"].get("username").is_none());

    let (ctx, deps) = context("other");
    let plan = super::plan(&ctx, &deps, &|_: &str| Some("p@ss word".to_string()));
    let url = |name: &str| {
        let secret = plan
            .objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
            .expect("secret");
        decoded(secret, "url")
    };
    assert_eq!(
        url("mysql-credentials"),
        "mysql://preview:p%40ss%20word@mysql:3306/preview"
    );
    assert_eq!(
        url("mongo-credentials"),
        "mongodb://preview:p%40ss%20word@mongo:27017/preview?authSource=admin"
    );
}

#[test]
fn every_object_is_namespaced_and_labelled() {
    for app in ["collect", "other"] {
        let (ctx, deps) = context(app);
        let plan = plan(&ctx, &deps, &|_: &str| None);
        assert_eq!(plan.objects.len(), 3 * plan.workloads.len());
        for object in &plan.objects {
            let metadata = &object["metadata"];
            assert_eq!(metadata["namespace"], ctx.namespace.as_str(), "{object}");
            for (key, value) in ctx.labels() {
                assert_eq!(metadata["labels"][key], value.as_str(), "{object}");
            }
            let dependency = metadata["labels"][DEPENDENCY_LABEL]
                .as_str()
                .expect("dependency label");
            if object["kind"] == "StatefulSet" {
                let selector = &object["spec"]["selector"]["matchLabels"];
                assert_eq!(
                    selector,
                    &json!({DEPENDENCY_LABEL: dependency, labels::PREVIEW: ctx.namespace.as_str()})
                );
                let template = &object["spec"]["template"]["metadata"]["labels"];
                for (key, value) in ctx.labels() {
                    assert_eq!(template[key], value.as_str());
                }
                assert_eq!(template[DEPENDENCY_LABEL], dependency);
                assert_eq!(object["spec"]["serviceName"], dependency);
            }
        }
    }
}

#[test]
fn an_existing_password_is_kept_and_new_ones_are_random() {
    let (ctx, deps) = context("collect");
    let asked = RefCell::new(Vec::new());
    let existing = |secret: &str| {
        asked.borrow_mut().push(secret.to_string());
        (secret == "db-credentials").then(|| "initialised-with-this".to_string())
    };
    let first = plan(&ctx, &deps, &existing);
    assert_eq!(*asked.borrow(), ["cache-credentials", "db-credentials"]);
    let password_of = |plan: &DependencyPlan, secret: &str| {
        let object = plan
            .objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == secret)
            .expect("secret");
        assert_eq!(
            password_from_secret(object),
            Some(decoded(object, "password"))
        );
        decoded(object, "password")
    };
    assert_eq!(
        password_of(&first, "db-credentials"),
        "initialised-with-this"
    );
    let generated = password_of(&first, "cache-credentials");
    assert_eq!(generated.len(), PASSWORD_LEN);
    assert!(generated.bytes().all(|b| b.is_ascii_alphanumeric()));
    let second = plan(&ctx, &deps, &existing);
    assert_eq!(
        password_of(&second, "db-credentials"),
        "initialised-with-this"
    );
    assert_ne!(password_of(&second, "cache-credentials"), generated);
}

#[test]
fn generated_passwords_are_32_alphanumerics_and_differ() {
    let passwords: Vec<String> = (0..50).map(|_| generate_password()).collect();
    for password in &passwords {
        assert_eq!(password.len(), 32);
        assert!(
            password.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{password}"
        );
    }
    let distinct: std::collections::HashSet<_> = passwords.iter().collect();
    assert_eq!(distinct.len(), passwords.len());
}

#[test]
fn password_from_a_stored_or_unstored_secret() {
    assert_eq!(
        password_from_secret(&json!({"data": {"password": "aHVudGVyMg=="}})),
        Some("hunter2".to_string())
    );
    assert_eq!(
        password_from_secret(&json!({"stringData": {"password": "hunter2"}})),
        Some("hunter2".to_string())
    );
    assert_eq!(
        password_from_secret(&json!({"data": {"password": ""}})),
        None
    );
    assert_eq!(
        password_from_secret(&json!({"data": {"password": "!!"}})),
        None
    );
    assert_eq!(password_from_secret(&json!({"data": {}})), None);
}

#[test]
fn the_plan_injects_into_the_context() {
    let (mut ctx, deps) = context("collect");
    ctx.env.push(("PAYMENTS_URL".into(), "overridden".into()));
    let plan = plan(&ctx, &deps, &|_: &str| None);
    plan.inject_into(&mut ctx);
    assert_eq!(
        ctx.env
            .iter()
            .filter(|(k, _)| k == "PAYMENTS_URL")
            .collect::<Vec<_>>(),
        [&(
            "PAYMENTS_URL".to_string(),
            "https://payments.staging.svc.cluster.local".to_string()
        )]
    );
    assert_eq!(
        ctx.secret_env,
        [
            SecretEnv {
                name: "REDIS_URL".into(),
                secret: "cache-credentials".into(),
                key: "url".into()
            },
            SecretEnv {
                name: "DATABASE_URL".into(),
                secret: "db-credentials".into(),
                key: "url".into()
            },
        ]
    );
    assert_eq!(credentials_secret_name("db"), "db-credentials");
}
