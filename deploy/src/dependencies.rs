//! Throw-away dependencies created in each preview before the app (SPEC section 4 step 5):
//! PostgreSQL, MySQL, Redis and MongoDB from their official images, each with a generated
//! password in a Secret, a Service and a one-replica StatefulSet on an `emptyDir`, or a `shared`
//! dependency that only injects a fixed URL.
//!
//! The plan is pure: the caller applies `objects` in the first wave, awaits `workloads`, and
//! injects `env` into every app container ([`DependencyPlan::inject_into`]).

use crate::labels;
use crate::render::Rendered;
use crate::transform::{PreviewContext, SecretEnv};
use preview_config::{DependencyConfig, DependencyKind, DependencyOutput};
use rand::Rng;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// On every object of a dependency: its name (`[apps.X.dependencies.NAME]`).
pub const DEPENDENCY_LABEL: &str = "preview-bot.dev/dependency";

/// The user and database every created dependency gets.
pub const USER: &str = "preview";
pub const DATABASE: &str = "preview";

/// Length of a generated password.
pub const PASSWORD_LEN: usize = 32;

/// How the app gets a dependency's connection variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    /// A fixed value (a `shared` dependency's URL).
    Plain(String),
    /// A key of a Secret in the preview namespace (the URL carries the password).
    SecretKey { secret: String, key: String },
}

/// One variable injected into every app container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvBinding {
    pub name: String,
    pub value: EnvValue,
}

/// What the dependencies of one preview need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DependencyPlan {
    /// Applied in the first wave, before the app: per dependency a Secret, a Service and a
    /// StatefulSet, in dependency-name order. Each already has its namespace and labels.
    pub objects: Vec<Value>,
    /// Injected into every app container.
    pub env: Vec<EnvBinding>,
    /// StatefulSet names to await before applying the app.
    pub workloads: Vec<String>,
}

impl DependencyPlan {
    /// Adds the plan's variables to the context the app's transform uses: plain values to
    /// `ctx.env`, Secret references to `ctx.secret_env` (replacing entries of the same name).
    pub fn inject_into(&self, ctx: &mut PreviewContext) {
        for binding in &self.env {
            ctx.env.retain(|(name, _)| *name != binding.name);
            ctx.secret_env.retain(|e| e.name != binding.name);
            match &binding.value {
                EnvValue::Plain(value) => ctx.env.push((binding.name.clone(), value.clone())),
                EnvValue::SecretKey { secret, key } => ctx.secret_env.push(SecretEnv {
                    name: binding.name.clone(),
                    secret: secret.clone(),
                    key: key.clone(),
                }),
            }
        }
    }
}

/// The Secret holding a dependency's credentials and connection URL.
pub fn credentials_secret_name(dependency: &str) -> String {
    format!("{dependency}-credentials")
}

/// A fresh password: [`PASSWORD_LEN`] characters of `[A-Za-z0-9]` from the thread-local CSPRNG
/// (ChaCha, seeded and periodically reseeded from the operating system).
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// The password stored in an existing credentials Secret (as read from the API server: base64
/// `data`, or `stringData` if the object was never stored), for `plan`'s `existing_password`.
pub fn password_from_secret(secret: &Value) -> Option<String> {
    if let Some(encoded) = secret.pointer("/data/password") {
        let bytes: k8s_openapi::ByteString = serde_json::from_value(encoded.clone()).ok()?;
        return String::from_utf8(bytes.0).ok().filter(|p| !p.is_empty());
    }
    secret
        .pointer("/stringData/password")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

/// The objects, variables and workloads of every dependency of one preview. A credentials
/// Secret that already exists keeps its password (`existing_password(secret_name)`), so a
/// redeploy does not lock the app out of a database initialised with it.
pub fn plan(
    ctx: &PreviewContext,
    dependencies: &BTreeMap<String, DependencyConfig>,
    existing_password: &dyn Fn(&str) -> Option<String>,
) -> DependencyPlan {
    let mut out = DependencyPlan::default();
    for (name, config) in dependencies {
        if config.kind == DependencyKind::Template {
            // The objects come from the app's repository (`template_objects`); here only
            // what the app gets.
            let vars = ctx.template_vars(&ctx.base);
            for (env, output) in &config.outputs {
                let value = match output {
                    DependencyOutput::Text(text) => EnvValue::Plain(vars.render(text)),
                    DependencyOutput::SecretKey { secret, key } => EnvValue::SecretKey {
                        secret: secret.clone(),
                        key: key.clone(),
                    },
                };
                out.env.push(EnvBinding {
                    name: env.clone(),
                    value,
                });
            }
            continue;
        }
        let Some(engine) = Engine::of(config.kind) else {
            // `shared`: nothing to create, the URL as is (validated present at load time).
            if let Some(url) = &config.url {
                out.env.push(EnvBinding {
                    name: config.env_name().to_string(),
                    value: EnvValue::Plain(url.clone()),
                });
            }
            continue;
        };
        let secret_name = credentials_secret_name(name);
        let password = existing_password(&secret_name).unwrap_or_else(generate_password);
        let dep = Dependency {
            ctx,
            name,
            engine,
            version: config.version(),
        };
        out.objects.push(dep.secret(&secret_name, &password));
        out.objects.push(dep.service());
        out.objects.push(dep.stateful_set(&secret_name));
        out.workloads.push(name.clone());
        out.env.push(EnvBinding {
            name: config.env_name().to_string(),
            value: EnvValue::SecretKey {
                secret: secret_name,
                key: "url".to_string(),
            },
        });
    }
    out
}

/// A `template` dependency's objects as read from the repository, made ready for the
/// dependency wave: templates (`{namespace}`, `{app}`, ...) filled in every string value and
/// the dependency's label added. The caller still runs them through the preview transform
/// (namespace, labels, guards), as any manifest from a repository.
pub fn template_objects(
    ctx: &PreviewContext,
    name: &str,
    rendered: Vec<Rendered>,
) -> Vec<Rendered> {
    let vars = ctx.template_vars(&ctx.base);
    rendered
        .into_iter()
        .map(|mut r| {
            fill_templates(&mut r.object, &|text| vars.render(text));
            if let Some(metadata) = r.object.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = metadata
                    .entry("labels")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert(DEPENDENCY_LABEL.into(), Value::String(name.to_string()));
                }
            }
            r
        })
        .collect()
}

fn fill_templates(value: &mut Value, render: &dyn Fn(&str) -> String) {
    match value {
        Value::String(text) if text.contains('{') => *text = render(text),
        Value::Array(items) => items.iter_mut().for_each(|v| fill_templates(v, render)),
        Value::Object(map) => map.values_mut().for_each(|v| fill_templates(v, render)),
        _ => {}
    }
}

/// What differs between the kinds the bot creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Postgres,
    Mysql,
    Redis,
    Mongodb,
}

impl Engine {
    fn of(kind: DependencyKind) -> Option<Engine> {
        Some(match kind {
            DependencyKind::Postgres => Engine::Postgres,
            DependencyKind::Mysql => Engine::Mysql,
            DependencyKind::Redis => Engine::Redis,
            DependencyKind::Mongodb => Engine::Mongodb,
            DependencyKind::Shared | DependencyKind::Template => return None,
        })
    }

    /// The official image's repository, fully qualified (no short-name resolution).
    fn image(self) -> &'static str {
        match self {
            Engine::Postgres => "docker.io/library/postgres",
            Engine::Mysql => "docker.io/library/mysql",
            Engine::Redis => "docker.io/library/redis",
            Engine::Mongodb => "docker.io/library/mongo",
        }
    }

    fn port(self) -> u16 {
        match self {
            Engine::Postgres => 5432,
            Engine::Mysql => 3306,
            Engine::Redis => 6379,
            Engine::Mongodb => 27017,
        }
    }

    /// The Service and container port name (an IANA service name, at most 15 characters).
    fn port_name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Redis => "redis",
            Engine::Mongodb => "mongodb",
        }
    }

    /// Where the server keeps its data (an `emptyDir`: previews are throw-away).
    fn data_path(self) -> &'static str {
        match self {
            Engine::Postgres => "/var/lib/postgresql/data",
            Engine::Mysql => "/var/lib/mysql",
            Engine::Redis => "/data",
            Engine::Mongodb => "/data/db",
        }
    }

    fn data_size_limit(self) -> &'static str {
        match self {
            Engine::Postgres | Engine::Redis => "1Gi",
            Engine::Mysql | Engine::Mongodb => "2Gi",
        }
    }

    /// `(requests, limits)` as `(cpu, memory)`.
    fn resources(self) -> Value {
        let (cpu_req, mem_req, cpu_lim, mem_lim) = match self {
            Engine::Postgres => ("50m", "128Mi", "500m", "512Mi"),
            Engine::Mysql => ("100m", "384Mi", "1", "1Gi"),
            Engine::Redis => ("25m", "32Mi", "250m", "256Mi"),
            Engine::Mongodb => ("100m", "256Mi", "1", "1Gi"),
        };
        json!({
            "requests": {"cpu": cpu_req, "memory": mem_req},
            "limits": {"cpu": cpu_lim, "memory": mem_lim},
        })
    }

    fn url(self, host: &str, password: &str) -> String {
        let port = self.port();
        let password = encode_userinfo(password);
        match self {
            Engine::Postgres => format!("postgres://{USER}:{password}@{host}:{port}/{DATABASE}"),
            Engine::Mysql => format!("mysql://{USER}:{password}@{host}:{port}/{DATABASE}"),
            Engine::Redis => format!("redis://:{password}@{host}:{port}/0"),
            Engine::Mongodb => {
                format!("mongodb://{USER}:{password}@{host}:{port}/{DATABASE}?authSource=admin")
            }
        }
    }

    /// Whether the server has a user name and a database (Redis has neither).
    fn has_user(self) -> bool {
        self != Engine::Redis
    }

    /// The container's environment, all from the credentials Secret.
    fn env(self, secret: &str) -> Vec<Value> {
        let from = |name: &str, key: &str| json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}});
        match self {
            Engine::Postgres => vec![
                from("POSTGRES_USER", "username"),
                from("POSTGRES_PASSWORD", "password"),
                from("POSTGRES_DB", "database"),
                // A subdirectory of the mount, as the image recommends for mounted volumes.
                json!({"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}),
            ],
            Engine::Mysql => vec![
                from("MYSQL_USER", "username"),
                from("MYSQL_PASSWORD", "password"),
                from("MYSQL_DATABASE", "database"),
                from("MYSQL_ROOT_PASSWORD", "password"),
            ],
            Engine::Redis => vec![from("REDIS_PASSWORD", "password")],
            Engine::Mongodb => vec![
                from("MONGO_INITDB_ROOT_USERNAME", "username"),
                from("MONGO_INITDB_ROOT_PASSWORD", "password"),
                from("MONGO_INITDB_DATABASE", "database"),
            ],
        }
    }

    /// Container arguments (the image's entrypoint stays).
    fn args(self) -> Option<Value> {
        match self {
            // `$(REDIS_PASSWORD)` is expanded by the kubelet from the container's env.
            Engine::Redis => Some(json!([
                "redis-server",
                "--requirepass",
                "$(REDIS_PASSWORD)"
            ])),
            _ => None,
        }
    }

    /// A readiness check that talks to the server itself. Over TCP on 127.0.0.1 for Postgres and
    /// MySQL: while their entrypoints initialise the database, the temporary server listens only
    /// on a Unix socket, so the pod is not ready until the real server is up.
    fn readiness_command(self) -> Value {
        match self {
            Engine::Postgres => json!([
                "pg_isready",
                "-h",
                "127.0.0.1",
                "-p",
                "5432",
                "-U",
                USER,
                "-d",
                DATABASE
            ]),
            Engine::Mysql => json!([
                "sh",
                "-c",
                "mysqladmin ping -h 127.0.0.1 -P 3306 -uroot -p\"$MYSQL_ROOT_PASSWORD\""
            ]),
            Engine::Redis => json!([
                "sh",
                "-c",
                "redis-cli -h 127.0.0.1 -p 6379 --no-auth-warning -a \"$REDIS_PASSWORD\" ping | grep -q PONG"
            ]),
            Engine::Mongodb => json!([
                "mongosh",
                "--quiet",
                "--host",
                "127.0.0.1",
                "--port",
                "27017",
                "--eval",
                "db.adminCommand(\"ping\")"
            ]),
        }
    }

    /// Seconds a readiness check may take (mongosh starts a JavaScript runtime).
    fn probe_timeout(self) -> u32 {
        match self {
            Engine::Mongodb => 10,
            _ => 5,
        }
    }

    /// `(pod, container)` security contexts that keep each official image working.
    ///
    /// Postgres, MySQL and MongoDB start as root: the entrypoint prepares the data directory
    /// (`chown`, `chmod`) and then drops to the image's own user with `gosu`. They keep exactly the
    /// capabilities that needs (all in the runtime's default set, so Pod Security "baseline"
    /// admits them); privilege escalation stays off (`gosu` only drops privileges). Redis runs as
    /// its own user (uid 999 in every official variant) from the start, with no capabilities
    /// ("restricted").
    fn security_contexts(self) -> (Value, Value) {
        let seccomp = json!({"type": "RuntimeDefault"});
        match self {
            Engine::Redis => (
                json!({
                    "runAsNonRoot": true,
                    "runAsUser": 999,
                    "runAsGroup": 999,
                    "fsGroup": 999,
                    "seccompProfile": seccomp,
                }),
                json!({
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                }),
            ),
            Engine::Postgres | Engine::Mysql | Engine::Mongodb => (
                json!({"seccompProfile": seccomp}),
                json!({
                    "allowPrivilegeEscalation": false,
                    "capabilities": {
                        "drop": ["ALL"],
                        "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
                    },
                }),
            ),
        }
    }
}

/// One created dependency of one preview.
struct Dependency<'a> {
    ctx: &'a PreviewContext,
    name: &'a str,
    engine: Engine,
    version: &'a str,
}

impl Dependency<'_> {
    /// The preview's labels plus the dependency's.
    fn labels(&self) -> Map<String, Value> {
        let mut labels: Map<String, Value> = self
            .ctx
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v)))
            .collect();
        labels.insert(DEPENDENCY_LABEL.into(), json!(self.name));
        labels
    }

    /// The pod selector: stable for the life of the preview (a StatefulSet's selector is
    /// immutable), so only the dependency and the preview namespace.
    fn selector(&self) -> Value {
        json!({
            DEPENDENCY_LABEL: self.name,
            labels::PREVIEW: self.ctx.namespace.as_str(),
        })
    }

    fn metadata(&self, name: &str) -> Value {
        json!({
            "name": name,
            "namespace": self.ctx.namespace.as_str(),
            "labels": self.labels(),
        })
    }

    fn secret(&self, secret_name: &str, password: &str) -> Value {
        let engine = self.engine;
        let mut data: BTreeMap<&str, String> = BTreeMap::new();
        if engine.has_user() {
            data.insert("username", USER.into());
            data.insert("database", DATABASE.into());
        }
        data.insert("password", password.into());
        data.insert("host", self.name.into());
        data.insert("port", engine.port().to_string());
        data.insert("url", engine.url(self.name, password));
        // `data` (base64) rather than `stringData`: what is applied is what the API server
        // stores and returns, so server-side apply owns exactly these fields.
        let data: Map<String, Value> = data
            .into_iter()
            .map(|(k, v)| {
                let encoded = serde_json::to_value(k8s_openapi::ByteString(v.into_bytes()))
                    .unwrap_or(Value::Null);
                (k.to_string(), encoded)
            })
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": self.metadata(secret_name),
            "type": "Opaque",
            "data": data,
        })
    }

    fn service(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(self.name),
            "spec": {
                "type": "ClusterIP",
                "selector": self.selector(),
                "ports": [{
                    "name": self.engine.port_name(),
                    "port": self.engine.port(),
                    "targetPort": self.engine.port_name(),
                    "protocol": "TCP",
                }],
            },
        })
    }

    fn stateful_set(&self, secret_name: &str) -> Value {
        let engine = self.engine;
        let (pod_security, container_security) = engine.security_contexts();
        let mut container = json!({
            "name": engine.port_name(),
            "image": format!("{}:{}", engine.image(), self.version),
            "imagePullPolicy": "IfNotPresent",
            "env": engine.env(secret_name),
            "ports": [{
                "name": engine.port_name(),
                "containerPort": engine.port(),
                "protocol": "TCP",
            }],
            "readinessProbe": {
                "exec": {"command": engine.readiness_command()},
                "initialDelaySeconds": 5,
                "periodSeconds": 5,
                "timeoutSeconds": engine.probe_timeout(),
                "failureThreshold": 6,
            },
            "resources": engine.resources(),
            "securityContext": container_security,
            "volumeMounts": [{"name": "data", "mountPath": engine.data_path()}],
        });
        if let (Some(args), Some(c)) = (engine.args(), container.as_object_mut()) {
            c.insert("args".into(), args);
        }
        let mut template_labels = self.labels();
        if let Some(selector) = self.selector().as_object() {
            template_labels.extend(selector.clone());
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": self.metadata(self.name),
            "spec": {
                "replicas": 1,
                "serviceName": self.name,
                "selector": {"matchLabels": self.selector()},
                "template": {
                    "metadata": {"labels": template_labels},
                    "spec": {
                        // Service links would put `{DEP}_PORT=tcp://...` style variables into
                        // the container, which images read as their own settings.
                        "enableServiceLinks": false,
                        "automountServiceAccountToken": false,
                        "terminationGracePeriodSeconds": 10,
                        "securityContext": pod_security,
                        "containers": [container],
                        "volumes": [{
                            "name": "data",
                            "emptyDir": {"sizeLimit": engine.data_size_limit()},
                        }],
                    },
                },
            },
        })
    }
}

/// Percent-encodes what may not stand in a URL's userinfo (generated passwords are
/// alphanumeric, but a password kept from an edited Secret may not be).
fn encode_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
