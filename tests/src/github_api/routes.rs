//! Request handling of the fake GitHub.

// Handlers return `Result<_, Response>` to answer errors directly.
#![allow(clippy::result_large_err)]

use super::{
    CheckRun, Deployment, DeploymentStatus, GitHubComment, GitHubState, Inner, IssuedToken, Pull,
    Reaction, Repo, app, now, tarball, timestamp,
};
use crate::fixtures;
use crate::slack_api::fake_http::{self, FaultResponse, Incoming, json_response, lock};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value, json};
use std::sync::Arc;

const DOCS: &str = "https://docs.github.com/rest";
const API: &str = "https://api.github.com";

pub(crate) async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let recorder = inner.recorder.clone();
    fake_http::dispatch(&recorder, req, fault_response, |incoming| async move {
        route(&inner, &incoming)
    })
    .await
}

fn fault_response(fault: &FaultResponse) -> Response {
    match fault {
        FaultResponse::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            gh_error(status, status.canonical_reason().unwrap_or("Server Error"))
        }
        FaultResponse::RateLimited { retry_after_secs } => {
            let mut response = gh_error(
                StatusCode::TOO_MANY_REQUESTS,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            let reset = Utc::now().timestamp() + i64::try_from(*retry_after_secs).unwrap_or(60);
            let headers = response.headers_mut();
            for (name, value) in [
                ("retry-after", retry_after_secs.to_string()),
                ("x-ratelimit-limit", "5000".to_string()),
                ("x-ratelimit-remaining", "0".to_string()),
                ("x-ratelimit-reset", reset.to_string()),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            response
        }
        FaultResponse::Hang | FaultResponse::Raw { .. } => {
            gh_error(StatusCode::INTERNAL_SERVER_ERROR, "unreachable fault")
        }
    }
}

/// GitHub's error body: `{"message", "documentation_url", "status"}`.
pub(crate) fn gh_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({
            "message": message,
            "documentation_url": DOCS,
            "status": status.as_u16().to_string(),
        }),
    )
}

fn not_found() -> Response {
    gh_error(StatusCode::NOT_FOUND, "Not Found")
}

fn bad_credentials() -> Response {
    gh_error(StatusCode::UNAUTHORIZED, "Bad credentials")
}

/// 422 `Validation Failed` with one error entry.
fn validation_failed(resource: &str, field: &str, code: &str, message: Option<&str>) -> Response {
    let mut error = json!({ "resource": resource, "field": field, "code": code });
    if let Some(message) = message {
        error["message"] = json!(message);
    }
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "message": "Validation Failed",
            "errors": [error],
            "documentation_url": DOCS,
            "status": "422",
        }),
    )
}

/// 422 for a missing or mistyped parameter (GitHub's schema validation).
fn invalid_request(detail: &str) -> Response {
    gh_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Invalid request.\n\n{detail}"),
    )
}

fn ok(value: &Value) -> Response {
    json_response(StatusCode::OK, value)
}

fn created(value: &Value) -> Response {
    json_response(StatusCode::CREATED, value)
}

/// Who is calling.
#[derive(Clone, Debug)]
enum Caller {
    /// A personal access token; acts as the bot login.
    Token(String),
    /// An installation token.
    Installation { id: u64, login: String },
    /// The app itself (JWT).
    App,
}

impl Caller {
    fn login(&self) -> String {
        match self {
            Caller::Token(login) | Caller::Installation { login, .. } => login.clone(),
            Caller::App => "preview-bot".to_string(),
        }
    }
}

fn authenticate(incoming: &Incoming, state: &GitHubState) -> Result<Caller, Response> {
    let Some(value) = incoming.header("authorization") else {
        return Err(gh_error(
            StatusCode::UNAUTHORIZED,
            "Requires authentication",
        ));
    };
    let (scheme, token) = value.trim().split_once(' ').unwrap_or(("", value));
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")) {
        return Err(bad_credentials());
    }
    let token = token.trim();
    if state.tokens.contains(token) {
        return Ok(Caller::Token(state.options.bot_login.clone()));
    }
    if let Some(issued) = state.installation_tokens.get(token) {
        if issued.expires_at > Utc::now() {
            return Ok(Caller::Installation {
                id: issued.installation_id,
                login: state.options.bot_login.clone(),
            });
        }
        return Err(bad_credentials());
    }
    if scheme.eq_ignore_ascii_case("bearer") && app::looks_like_jwt(token) {
        return match app::check_jwt(
            token,
            state.options.app_id,
            state.options.app_public_key_pem.as_deref(),
        ) {
            Ok(()) => Ok(Caller::App),
            Err(message) => Err(gh_error(StatusCode::UNAUTHORIZED, message)),
        };
    }
    Err(bad_credentials())
}

fn route(inner: &Inner, incoming: &Incoming) -> Response {
    let segments = incoming.segments();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    // The archive host (codeload.github.com) authenticates through the redirect URL itself.
    if let ["_codeload", owner, repo, "legacy.tar.gz", reference @ ..] = seg.as_slice() {
        if incoming.method != Method::GET {
            return not_found();
        }
        return codeload(inner, owner, repo, &reference.join("/"));
    }
    if incoming.header("user-agent").is_none_or(str::is_empty) {
        return fake_http::text_response(
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n",
        );
    }
    let mut state = lock(&inner.state);
    let caller = match authenticate(incoming, &state) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let method = incoming.method.clone();
    match seg.as_slice() {
        ["app", "installations", id] if method == Method::GET => {
            let Caller::App = caller else {
                return jwt_required();
            };
            match id
                .parse::<u64>()
                .ok()
                .filter(|id| state.installations.contains_key(id))
            {
                Some(id) => {
                    let account = state.installations.get(&id).cloned().unwrap_or_default();
                    ok(&installation_json(&inner.url, &state, id, &account))
                }
                None => not_found(),
            }
        }
        ["app", "installations", id, "access_tokens"] if method == Method::POST => {
            let Caller::App = caller else {
                return jwt_required();
            };
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|id| state.installations.contains_key(id))
            else {
                return not_found();
            };
            if let Err(response) = body_object(incoming) {
                return response;
            }
            access_token(&mut state, id)
        }
        ["orgs", org, "installation"] if method == Method::GET => {
            let Caller::App = caller else {
                return jwt_required();
            };
            match state.installation_for(org) {
                Some(id) => ok(&installation_json(&inner.url, &state, id, org)),
                None => not_found(),
            }
        }
        ["orgs", org, "teams", slug, "memberships", user] if method == Method::GET => {
            if let Caller::App = caller {
                return gh_error(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                );
            }
            if let Caller::Installation { id, .. } = &caller
                && state.installation_for(org) != Some(*id)
            {
                return not_found();
            }
            team_membership(&inner.url, &state, org, slug, user)
        }
        ["repos", owner, repo, rest @ ..] => {
            if let Caller::App = caller {
                if rest == ["installation"] && method == Method::GET {
                    return repo_installation(inner, &state, owner, repo);
                }
                return gh_error(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                );
            }
            if let Caller::Installation { id, .. } = &caller
                && state.installation_for(owner) != Some(*id)
            {
                return not_found();
            }
            if state.repo(owner, repo).is_none() {
                return not_found();
            }
            repo_route(inner, &mut state, &caller, incoming, owner, repo, rest)
        }
        _ => not_found(),
    }
}

fn jwt_required() -> Response {
    gh_error(
        StatusCode::UNAUTHORIZED,
        "A JSON web token could not be decoded",
    )
}

#[allow(clippy::too_many_arguments)]
fn repo_route(
    inner: &Inner,
    state: &mut GitHubState,
    caller: &Caller,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
    rest: &[&str],
) -> Response {
    let m = &incoming.method;
    let get = *m == Method::GET;
    let post = *m == Method::POST;
    let patch = *m == Method::PATCH;
    match rest {
        // `GET /repos/{owner}/{repo}/pulls` (pulls/list).
        ["pulls"] if get => list_pulls(inner, state, incoming, owner, repo),
        ["pulls", number] if get => match number.parse::<u64>() {
            Ok(n) => get_pull(state, owner, repo, n),
            Err(_) => not_found(),
        },
        // `GET /repos/{owner}/{repo}/branches/{branch}` (repos/get-branch); names may hold `/`.
        ["branches", branch @ ..] if get && !branch.is_empty() => {
            let branch = branch.join("/");
            let Some(repo_state) = state.repo(owner, repo) else {
                return not_found();
            };
            let Some(sha) = repo_state.branches.get(&branch) else {
                return not_found();
            };
            let commit_url = format!(
                "{}/repos/{}/{}/commits/{sha}",
                inner.url, repo_state.owner, repo_state.name
            );
            ok(&serde_json::json!({
                "name": branch,
                "commit": {"sha": sha, "url": commit_url},
                "protected": false,
                "_links": {
                    "self": format!("{}/repos/{}/{}/branches/{branch}", inner.url, repo_state.owner, repo_state.name),
                    "html": format!("https://github.com/{}/{}/tree/{branch}", repo_state.owner, repo_state.name),
                },
            }))
        }
        ["tarball", reference @ ..] if get && !reference.is_empty() => {
            let reference = reference.join("/");
            let Some(repo_state) = state.repo(owner, repo) else {
                return not_found();
            };
            if repo_state.resolve(&reference).is_none() {
                return not_found();
            }
            let location = format!(
                "{}/_codeload/{}/{}/legacy.tar.gz/{}",
                inner.url, repo_state.owner, repo_state.name, reference
            );
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        ["issues", "comments", id] => {
            let Some(id) = id.parse::<u64>().ok() else {
                return not_found();
            };
            if get {
                get_comment(state, owner, repo, id)
            } else if patch || post {
                update_comment(state, incoming, owner, repo, id)
            } else if *m == Method::DELETE {
                delete_comment(state, owner, repo, id)
            } else {
                not_found()
            }
        }
        ["issues", "comments", id, "reactions"] if get || post => {
            let Some(id) = id.parse::<u64>().ok() else {
                return not_found();
            };
            if post {
                add_reaction(state, caller, incoming, owner, repo, id)
            } else {
                list_reactions(state, owner, repo, id)
            }
        }
        ["issues", number, "comments"] if get || post => {
            let Some(number) = number.parse::<u64>().ok() else {
                return not_found();
            };
            if post {
                create_comment(state, caller, incoming, owner, repo, number)
            } else {
                list_comments(state, owner, repo, number)
            }
        }
        ["deployments"] if post => create_deployment(state, caller, incoming, owner, repo),
        ["deployments"] if get => list_deployments(state, incoming, owner, repo),
        ["deployments", id] if get => match find_deployment(state, owner, repo, id) {
            Some(d) => ok(&deployment_json(&d)),
            None => not_found(),
        },
        ["deployments", id, "statuses"] if post || get => {
            let Some(deployment) = find_deployment(state, owner, repo, id) else {
                return not_found();
            };
            if post {
                create_status(state, caller, incoming, &deployment)
            } else {
                let statuses = state
                    .statuses
                    .get(&deployment.id)
                    .cloned()
                    .unwrap_or_default();
                ok(&Value::Array(
                    statuses
                        .iter()
                        .rev()
                        .map(|s| status_json(&deployment, s))
                        .collect(),
                ))
            }
        }
        ["commits", reference, "check-runs"] if get => {
            list_check_runs_for_ref(state, incoming, owner, repo, reference)
        }
        ["check-runs"] if post => create_check_run(state, caller, incoming, owner, repo),
        ["check-runs", id] if patch || get => {
            let Some(id) = id.parse::<u64>().ok() else {
                return not_found();
            };
            if patch {
                update_check_run(state, caller, incoming, owner, repo, id)
            } else {
                match state.check_runs.get(&id) {
                    Some(run) if same_repo(&run.owner, &run.repo, owner, repo) => {
                        ok(&check_run_json(run))
                    }
                    _ => not_found(),
                }
            }
        }
        ["collaborators", user, "permission"] if get => permission(state, owner, repo, user),
        _ => not_found(),
    }
}

fn same_repo(a_owner: &str, a_repo: &str, owner: &str, repo: &str) -> bool {
    a_owner.eq_ignore_ascii_case(owner) && a_repo.eq_ignore_ascii_case(repo)
}

/// The request body as a JSON object (`{}` when empty).
fn body_object(incoming: &Incoming) -> Result<Map<String, Value>, Response> {
    if incoming.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&incoming.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(gh_error(StatusCode::BAD_REQUEST, "Problems parsing JSON")),
        Err(_) => Err(gh_error(StatusCode::BAD_REQUEST, "Problems parsing JSON")),
    }
}

/// An optional string parameter; `Err` (422) when present with another type.
fn opt_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, Response> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid_request(&format!(
            "For 'properties/{key}', {other} is not a string."
        ))),
    }
}

fn req_str(body: &Map<String, Value>, key: &str) -> Result<String, Response> {
    opt_str(body, key)?.ok_or_else(|| invalid_request(&format!("\"{key}\" wasn't supplied.")))
}

fn opt_bool(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, Response> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid_request(&format!(
            "For 'properties/{key}', {other} is not a boolean."
        ))),
    }
}

// ---- JSON shapes ---------------------------------------------------------------------------

fn url_login(login: &str) -> String {
    login.replace('[', "%5B").replace(']', "%5D")
}

/// A user object shaped like the fixtures' `octocat`.
pub(crate) fn user_json(login: &str, id: u64) -> Value {
    let template = fixtures::json("github/api/create-issue-comment.json")["user"].clone();
    let mut user = replace_strings(template, &[("/octocat", &format!("/{}", url_login(login)))]);
    user["login"] = json!(login);
    user["id"] = json!(id);
    user["node_id"] = json!(format!("MDQ6VXNlcj{id}"));
    user["type"] = json!(if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    });
    user
}

fn login_id(login: &str) -> u64 {
    // Stable per login, so the same user always has the same id.
    login
        .bytes()
        .fold(5381u64, |h, b| h.wrapping_mul(33) ^ u64::from(b))
        % 90_000_000
        + 1_000_000
}

/// Replaces substrings in every string of a JSON value.
fn replace_strings(value: Value, pairs: &[(&str, &str)]) -> Value {
    match value {
        Value::String(mut s) => {
            for (from, to) in pairs {
                if s.contains(from) {
                    s = s.replace(from, to);
                }
            }
            Value::String(s)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| replace_strings(v, pairs))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, replace_strings(v, pairs)))
                .collect(),
        ),
        other => other,
    }
}

fn repo_json(template: &Value, owner: &str, name: &str, id: u64) -> Value {
    let mut repo = replace_strings(
        template.clone(),
        &[("octocat/Hello-World", &format!("{owner}/{name}"))],
    );
    repo["id"] = json!(id);
    repo["name"] = json!(name);
    repo["full_name"] = json!(format!("{owner}/{name}"));
    repo["owner"] = user_json(owner, login_id(owner));
    repo["default_branch"] = json!("main");
    repo
}

fn pull_json(repo: &Repo, pull: &Pull) -> Value {
    let spec = &pull.spec;
    let (o, r, n) = (&repo.owner, &repo.name, spec.number);
    let fixture = fixtures::json("github/api/get-pull-request.json");
    let mut pr = replace_strings(
        fixture,
        &[
            ("octocat/Hello-World", &format!("{o}/{r}")),
            ("/1347", &format!("/{n}")),
            (
                "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                spec.head_sha.as_str(),
            ),
        ],
    );
    pr["id"] = json!(repo.id * 1000 + n);
    pr["number"] = json!(n);
    pr["state"] = json!(spec.state);
    pr["title"] = json!(spec.title);
    pr["body"] = json!(spec.body);
    pr["draft"] = json!(spec.draft);
    pr["merged"] = json!(spec.merged);
    pr["locked"] = json!(false);
    pr["html_url"] = json!(format!("https://github.com/{o}/{r}/pull/{n}"));
    pr["user"] = user_json(&spec.author, login_id(&spec.author));
    pr["created_at"] = json!(pull.created_at);
    pr["updated_at"] = json!(pull.updated_at);
    pr["closed_at"] = json!(pull.closed_at);
    pr["merged_at"] = json!(pull.merged_at);
    if !spec.merged {
        pr["merged_by"] = Value::Null;
    }
    if spec.state != "open" {
        pr["mergeable"] = Value::Null;
        pr["mergeable_state"] = json!("unknown");
    }
    let label_template = pr["labels"][0].clone();
    pr["labels"] = Value::Array(
        spec.labels
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut label = label_template.clone();
                label["id"] = json!(208_045_946 + i as u64);
                label["name"] = json!(name);
                label["url"] = json!(format!("{API}/repos/{o}/{r}/labels/{name}"));
                label["default"] = json!(false);
                label
            })
            .collect(),
    );
    let repo_template = pr["base"]["repo"].clone();
    let base_repo = repo_json(&repo_template, o, r, repo.id);
    let (head_owner, head_repo) = match spec
        .head_repo_full_name
        .as_deref()
        .and_then(|f| f.split_once('/'))
    {
        Some((ho, hr)) => (
            ho.to_string(),
            repo_json(&repo_template, ho, hr, repo.id + 7_000_000),
        ),
        None => (o.clone(), base_repo.clone()),
    };
    let head = &mut pr["head"];
    head["label"] = json!(format!("{head_owner}:{}", spec.head_ref));
    head["ref"] = json!(spec.head_ref);
    head["sha"] = json!(spec.head_sha);
    head["user"] = user_json(&head_owner, login_id(&head_owner));
    head["repo"] = head_repo;
    let base_sha = repo
        .branches
        .get(&spec.base_ref)
        .cloned()
        .unwrap_or_else(|| "0000000000000000000000000000000000000b45".to_string());
    let base = &mut pr["base"];
    base["label"] = json!(format!("{o}:{}", spec.base_ref));
    base["ref"] = json!(spec.base_ref);
    base["sha"] = json!(base_sha);
    base["user"] = user_json(o, login_id(o));
    base["repo"] = base_repo;
    pr
}

/// Fields of the full pull request that a list item (`pull-request-simple`) does not have.
const DETAIL_ONLY_PULL_FIELDS: &[&str] = &[
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
];

/// Items per page unless `per_page` says otherwise, and the most GitHub gives.
const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;

/// `GET /pulls?state=open|closed|all` (default open), newest first (GitHub's default
/// `sort=created&direction=desc`; numbers stand for creation order here), `per_page` (default
/// 30, at most 100) and `page` (from 1), with GitHub's `Link` header (`prev`, `next`, `last`,
/// `first`, those that apply; none when everything fits one page).
fn list_pulls(
    inner: &Inner,
    state: &GitHubState,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
) -> Response {
    let Some(repo_state) = state.repo(owner, repo) else {
        return not_found();
    };
    let wanted = incoming
        .query_param("state")
        .unwrap_or_else(|| "open".to_string());
    if !["open", "closed", "all"].contains(&wanted.as_str()) {
        return invalid_request(&format!(
            "{wanted:?} is not a member of [\"open\", \"closed\", \"all\"]."
        ));
    }
    let per_page = incoming
        .query_param("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PER_PAGE)
        .min(MAX_PER_PAGE);
    let page = incoming
        .query_param("page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let matching: Vec<&Pull> = repo_state
        .pulls
        .values()
        .rev()
        .filter(|p| wanted == "all" || p.spec.state == wanted)
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|pull| {
            let mut item = pull_json(repo_state, pull);
            if let Some(fields) = item.as_object_mut() {
                for field in DETAIL_ONLY_PULL_FIELDS {
                    fields.remove(*field);
                }
            }
            item
        })
        .collect();
    let mut response = ok(&Value::Array(items));
    let last = matching.len().div_ceil(per_page).max(1);
    let link = page_links(
        &format!(
            "{}/repos/{}/{}/pulls",
            inner.url, repo_state.owner, repo_state.name
        ),
        incoming,
        page,
        last,
        !state.links_without_last,
    );
    if let Some(value) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

/// GitHub's `Link` header for page `page` of `last`: the request's query with `page` replaced,
/// relations in GitHub's order (`prev`, `next`, `last`, `first`; `last` only when `name_last`);
/// None on a lone page.
fn page_links(
    base: &str,
    incoming: &Incoming,
    page: usize,
    last: usize,
    name_last: bool,
) -> Option<String> {
    let url = |n: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in incoming.query_pairs() {
            if k != "page" {
                query.append_pair(&k, &v);
            }
        }
        query.append_pair("page", &n.to_string());
        format!("<{base}?{}>", query.finish())
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", url(page + 1)));
        if name_last {
            links.push(format!("{}; rel=\"last\"", url(last)));
        }
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", url(1)));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

fn get_pull(state: &GitHubState, owner: &str, repo: &str, number: u64) -> Response {
    let Some(repo) = state.repo(owner, repo) else {
        return not_found();
    };
    match repo.pulls.get(&number) {
        Some(pull) => ok(&pull_json(repo, pull)),
        None => not_found(),
    }
}

fn comment_json(state: &GitHubState, c: &GitHubComment) -> Value {
    let mut v = fixtures::json("github/api/create-issue-comment.json");
    let is_pull = state
        .repo(&c.owner, &c.repo)
        .is_some_and(|r| r.pulls.contains_key(&c.issue_number));
    let kind = if is_pull { "pull" } else { "issues" };
    let (o, r, n, id) = (&c.owner, &c.repo, c.issue_number, c.id);
    v["id"] = json!(id);
    v["node_id"] = json!(format!("IC_kwDOfake{id}"));
    v["url"] = json!(format!("{API}/repos/{o}/{r}/issues/comments/{id}"));
    v["html_url"] = json!(format!(
        "https://github.com/{o}/{r}/{kind}/{n}#issuecomment-{id}"
    ));
    v["issue_url"] = json!(format!("{API}/repos/{o}/{r}/issues/{n}"));
    v["body"] = json!(c.body);
    v["user"] = user_json(&c.author, login_id(&c.author));
    v["created_at"] = json!(c.created_at);
    v["updated_at"] = json!(c.updated_at);
    v["author_association"] = json!(if c.author.ends_with("[bot]") {
        "NONE"
    } else if c.author.eq_ignore_ascii_case(o) {
        "OWNER"
    } else {
        "CONTRIBUTOR"
    });
    v
}

// ---- issue comments and reactions ----------------------------------------------------------

const MAX_COMMENT: usize = 65_536;

fn comment_body(incoming: &Incoming) -> Result<String, Response> {
    let body = body_object(incoming)?;
    let text = req_str(&body, "body")?;
    if text.chars().count() > MAX_COMMENT {
        return Err(validation_failed(
            "IssueComment",
            "data",
            "custom",
            Some("Body is too long (maximum is 65536 characters)"),
        ));
    }
    Ok(text)
}

fn create_comment(
    state: &mut GitHubState,
    caller: &Caller,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
    number: u64,
) -> Response {
    let exists = state
        .repo(owner, repo)
        .is_some_and(|r| r.pulls.contains_key(&number) || r.issues.contains(&number));
    if !exists {
        return not_found();
    }
    let text = match comment_body(incoming) {
        Ok(text) => text,
        Err(response) => return response,
    };
    let id = state.next_id();
    let at = now();
    let (o, r) = canonical(state, owner, repo);
    let comment = GitHubComment {
        id,
        body: text,
        author: caller.login(),
        issue_number: number,
        edits: 0,
        owner: o,
        repo: r,
        created_at: at.clone(),
        updated_at: at,
    };
    state.comments.insert(id, comment.clone());
    created(&comment_json(state, &comment))
}

/// The repository's owner and name as registered (GitHub answers in canonical case).
fn canonical(state: &GitHubState, owner: &str, repo: &str) -> (String, String) {
    state
        .repo(owner, repo)
        .map(|r| (r.owner.clone(), r.name.clone()))
        .unwrap_or_else(|| (owner.to_string(), repo.to_string()))
}

fn list_comments(state: &GitHubState, owner: &str, repo: &str, number: u64) -> Response {
    let exists = state
        .repo(owner, repo)
        .is_some_and(|r| r.pulls.contains_key(&number) || r.issues.contains(&number));
    if !exists {
        return not_found();
    }
    let mut comments: Vec<&GitHubComment> = state
        .comments
        .values()
        .filter(|c| same_repo(&c.owner, &c.repo, owner, repo) && c.issue_number == number)
        .collect();
    comments.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    ok(&Value::Array(
        comments
            .into_iter()
            .map(|c| comment_json(state, c))
            .collect(),
    ))
}

fn find_comment(state: &GitHubState, owner: &str, repo: &str, id: u64) -> Option<GitHubComment> {
    state
        .comments
        .get(&id)
        .filter(|c| same_repo(&c.owner, &c.repo, owner, repo))
        .cloned()
}

fn get_comment(state: &GitHubState, owner: &str, repo: &str, id: u64) -> Response {
    match find_comment(state, owner, repo, id) {
        Some(c) => ok(&comment_json(state, &c)),
        None => not_found(),
    }
}

fn update_comment(
    state: &mut GitHubState,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
    id: u64,
) -> Response {
    if find_comment(state, owner, repo, id).is_none() {
        return not_found();
    }
    let text = match comment_body(incoming) {
        Ok(text) => text,
        Err(response) => return response,
    };
    let Some(comment) = state.comments.get_mut(&id) else {
        return not_found();
    };
    comment.body = text;
    comment.edits += 1;
    comment.updated_at = now();
    let comment = comment.clone();
    ok(&comment_json(state, &comment))
}

fn delete_comment(state: &mut GitHubState, owner: &str, repo: &str, id: u64) -> Response {
    if find_comment(state, owner, repo, id).is_none() {
        return not_found();
    }
    state.comments.remove(&id);
    state.reactions.remove(&id);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

const REACTIONS: &[&str] = &[
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

fn reaction_json(r: &Reaction) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("REA_lATOfake{}", r.id),
        "user": user_json(&r.user, login_id(&r.user)),
        "content": r.content,
        "created_at": r.created_at,
    })
}

fn add_reaction(
    state: &mut GitHubState,
    caller: &Caller,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
    comment_id: u64,
) -> Response {
    if find_comment(state, owner, repo, comment_id).is_none() {
        return not_found();
    }
    let body = match body_object(incoming) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let content = match req_str(&body, "content") {
        Ok(content) => content,
        Err(response) => return response,
    };
    if !REACTIONS.contains(&content.as_str()) {
        return validation_failed("Reaction", "content", "invalid", None);
    }
    let user = caller.login();
    if let Some(existing) = state
        .reactions
        .get(&comment_id)
        .and_then(|rs| rs.iter().find(|r| r.content == content && r.user == user))
    {
        return ok(&reaction_json(existing));
    }
    let reaction = Reaction {
        id: state.next_id(),
        content,
        user,
        created_at: now(),
    };
    let answer = reaction_json(&reaction);
    state
        .reactions
        .entry(comment_id)
        .or_default()
        .push(reaction);
    created(&answer)
}

fn list_reactions(state: &GitHubState, owner: &str, repo: &str, comment_id: u64) -> Response {
    if find_comment(state, owner, repo, comment_id).is_none() {
        return not_found();
    }
    let reactions = state
        .reactions
        .get(&comment_id)
        .cloned()
        .unwrap_or_default();
    ok(&Value::Array(reactions.iter().map(reaction_json).collect()))
}

// ---- deployments ---------------------------------------------------------------------------

fn deployment_json(d: &Deployment) -> Value {
    let mut v = fixtures::json("github/api/create-deployment.json");
    let (o, r, id) = (&d.owner, &d.repo, d.id);
    v["url"] = json!(format!("{API}/repos/{o}/{r}/deployments/{id}"));
    v["id"] = json!(id);
    v["node_id"] = json!(format!("DE_kwDOfake{id}"));
    v["sha"] = json!(d.sha);
    v["ref"] = json!(d.ref_name);
    v["task"] = json!(d.task);
    v["payload"] = d.payload.clone();
    v["original_environment"] = json!(d.environment);
    v["environment"] = json!(d.environment);
    v["description"] = json!(d.description);
    v["creator"] = user_json(&d.creator, login_id(&d.creator));
    v["created_at"] = json!(d.created_at);
    v["updated_at"] = json!(d.created_at);
    v["statuses_url"] = json!(format!("{API}/repos/{o}/{r}/deployments/{id}/statuses"));
    v["repository_url"] = json!(format!("{API}/repos/{o}/{r}"));
    v["transient_environment"] = json!(d.transient);
    v["production_environment"] = json!(d.production);
    v
}

fn create_deployment(
    state: &mut GitHubState,
    caller: &Caller,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
) -> Response {
    let body = match body_object(incoming) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let parsed = (|| {
        let reference = req_str(&body, "ref")?;
        let task = opt_str(&body, "task")?.unwrap_or_else(|| "deploy".to_string());
        let environment =
            opt_str(&body, "environment")?.unwrap_or_else(|| "production".to_string());
        let description = opt_str(&body, "description")?;
        let transient = opt_bool(&body, "transient_environment")?.unwrap_or(false);
        let production =
            opt_bool(&body, "production_environment")?.unwrap_or(environment == "production");
        opt_bool(&body, "auto_merge")?;
        match body.get("required_contexts") {
            None | Some(Value::Null) | Some(Value::Array(_)) => {}
            Some(other) => {
                return Err(invalid_request(&format!(
                    "For 'properties/required_contexts', {other} is not an array."
                )));
            }
        }
        let payload = match body.get("payload") {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => v,
                _ => json!(s),
            },
            Some(v @ Value::Object(_)) => v.clone(),
            Some(other) => {
                return Err(invalid_request(&format!(
                    "For 'properties/payload', {other} is not an object or string."
                )));
            }
        };
        Ok((
            reference,
            task,
            environment,
            description,
            transient,
            production,
            payload,
        ))
    })();
    let (reference, task, environment, description, transient, production, payload) = match parsed {
        Ok(p) => p,
        Err(response) => return response,
    };
    let Some(sha) = state.repo(owner, repo).and_then(|r| r.resolve(&reference)) else {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No ref found for: {reference}"),
        );
    };
    let id = state.next_id();
    let (o, r) = canonical(state, owner, repo);
    let deployment = Deployment {
        id,
        environment,
        sha,
        transient,
        production,
        ref_name: reference,
        task,
        description,
        payload,
        request: Value::Object(body),
        owner: o,
        repo: r,
        created_at: now(),
        creator: caller.login(),
    };
    let answer = deployment_json(&deployment);
    state.deployments.insert(id, deployment);
    created(&answer)
}

/// `GET /repos/{o}/{r}/commits/{ref}/check-runs[?check_name=]`, newest first, as GitHub does.
fn list_check_runs_for_ref(
    state: &GitHubState,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
    reference: &str,
) -> Response {
    let name = incoming.query_param("check_name");
    let runs: Vec<Value> = state
        .check_runs
        .values()
        .rev()
        .filter(|run| same_repo(&run.owner, &run.repo, owner, repo) && run.head_sha == reference)
        .filter(|run| name.as_ref().is_none_or(|n| &run.name == n))
        .map(check_run_json)
        .collect();
    ok(&json!({"total_count": runs.len(), "check_runs": runs}))
}

fn list_deployments(state: &GitHubState, incoming: &Incoming, owner: &str, repo: &str) -> Response {
    let filters: Vec<(&str, Option<String>)> = ["sha", "ref", "task", "environment"]
        .into_iter()
        .map(|k| (k, incoming.query_param(k)))
        .collect();
    let list: Vec<Value> = state
        .deployments
        .values()
        .rev()
        .filter(|d| same_repo(&d.owner, &d.repo, owner, repo))
        .filter(|d| {
            filters.iter().all(|(k, want)| match want {
                None => true,
                Some(want) => match *k {
                    "sha" => &d.sha == want,
                    "ref" => &d.ref_name == want,
                    "task" => &d.task == want,
                    _ => &d.environment == want,
                },
            })
        })
        .map(deployment_json)
        .collect();
    ok(&Value::Array(list))
}

fn find_deployment(state: &GitHubState, owner: &str, repo: &str, id: &str) -> Option<Deployment> {
    let id = id.parse::<u64>().ok()?;
    state
        .deployments
        .get(&id)
        .filter(|d| same_repo(&d.owner, &d.repo, owner, repo))
        .cloned()
}

const STATES: &[&str] = &[
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

fn status_json(d: &Deployment, s: &DeploymentStatus) -> Value {
    let mut v = fixtures::json("github/api/create-deployment-status.json");
    let (o, r) = (&d.owner, &d.repo);
    v["url"] = json!(format!(
        "{API}/repos/{o}/{r}/deployments/{}/statuses/{}",
        d.id, s.id
    ));
    v["id"] = json!(s.id);
    v["node_id"] = json!(format!("DES_kwDOfake{}", s.id));
    v["state"] = json!(s.state);
    v["creator"] = user_json(&s.creator, login_id(&s.creator));
    v["description"] = json!(s.description.clone().unwrap_or_default());
    v["environment"] = json!(s.environment);
    v["target_url"] = json!(s.log_url.clone().unwrap_or_default());
    v["log_url"] = json!(s.log_url.clone().unwrap_or_default());
    v["environment_url"] = json!(s.environment_url.clone().unwrap_or_default());
    v["created_at"] = json!(s.created_at);
    v["updated_at"] = json!(s.created_at);
    v["deployment_url"] = json!(format!("{API}/repos/{o}/{r}/deployments/{}", d.id));
    v["repository_url"] = json!(format!("{API}/repos/{o}/{r}"));
    v
}

fn create_status(
    state: &mut GitHubState,
    caller: &Caller,
    incoming: &Incoming,
    deployment: &Deployment,
) -> Response {
    let body = match body_object(incoming) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let parsed = (|| {
        let st = req_str(&body, "state")?;
        let description = opt_str(&body, "description")?;
        let environment_url = opt_str(&body, "environment_url")?;
        let log_url = opt_str(&body, "log_url")?;
        let target_url = opt_str(&body, "target_url")?;
        let environment = opt_str(&body, "environment")?;
        let auto_inactive = opt_bool(&body, "auto_inactive")?.unwrap_or(true);
        Ok((
            st,
            description,
            environment_url,
            log_url.or(target_url),
            environment,
            auto_inactive,
        ))
    })();
    let (st, description, environment_url, log_url, environment, auto_inactive) = match parsed {
        Ok(p) => p,
        Err(response) => return response,
    };
    if !STATES.contains(&st.as_str()) {
        return invalid_request(&format!(
            "For 'properties/state', \"{st}\" is not one of {}.",
            STATES.join(", ")
        ));
    }
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 140)
    {
        return validation_failed(
            "DeploymentStatus",
            "description",
            "custom",
            Some("description is too long (maximum is 140 characters)"),
        );
    }
    let at = now();
    let status = DeploymentStatus {
        id: state.next_id(),
        state: st.clone(),
        environment_url: environment_url.filter(|s| !s.is_empty()),
        log_url: log_url.filter(|s| !s.is_empty()),
        description: description.filter(|s| !s.is_empty()),
        environment: environment.unwrap_or_else(|| deployment.environment.clone()),
        automatic: false,
        created_at: at.clone(),
        creator: caller.login(),
    };
    let answer = status_json(deployment, &status);
    state
        .statuses
        .entry(deployment.id)
        .or_default()
        .push(status);
    if st == "success" && auto_inactive {
        // GitHub: prior non-transient, non-production deployments of the same environment
        // whose latest status is success get an `inactive` status.
        let prior: Vec<u64> = state
            .deployments
            .values()
            .filter(|d| {
                d.id < deployment.id
                    && same_repo(&d.owner, &d.repo, &deployment.owner, &deployment.repo)
                    && d.environment == deployment.environment
                    && !d.transient
                    && !d.production
            })
            .map(|d| d.id)
            .collect();
        for id in prior {
            let last_success = state
                .statuses
                .get(&id)
                .and_then(|s| s.last())
                .is_some_and(|s| s.state == "success");
            if last_success {
                let status_id = state.next_id();
                let environment = state
                    .deployments
                    .get(&id)
                    .map(|d| d.environment.clone())
                    .unwrap_or_default();
                state
                    .statuses
                    .entry(id)
                    .or_default()
                    .push(DeploymentStatus {
                        id: status_id,
                        state: "inactive".to_string(),
                        environment_url: None,
                        log_url: None,
                        description: None,
                        environment,
                        automatic: true,
                        created_at: at.clone(),
                        creator: caller.login(),
                    });
            }
        }
    }
    created(&answer)
}

// ---- check runs ----------------------------------------------------------------------------

const CHECK_STATUSES: &[&str] = &[
    "queued",
    "in_progress",
    "completed",
    "waiting",
    "requested",
    "pending",
];
const CONCLUSIONS: &[&str] = &[
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];

fn check_run_json(run: &CheckRun) -> Value {
    let fixture = if run.status == "completed" {
        "github/api/create-check-run.completed.json"
    } else {
        "github/api/create-check-run.in-progress.json"
    };
    let mut v = fixtures::json(fixture);
    let (o, r, id) = (&run.owner, &run.repo, run.id);
    v["id"] = json!(id);
    v["node_id"] = json!(format!("CR_kwDOfake{id}"));
    v["head_sha"] = json!(run.head_sha);
    v["external_id"] = json!(run.external_id.clone().unwrap_or_default());
    v["url"] = json!(format!("{API}/repos/{o}/{r}/check-runs/{id}"));
    v["html_url"] = json!(format!("https://github.com/{o}/{r}/runs/{id}"));
    v["details_url"] = json!(run.details_url);
    v["status"] = json!(run.status);
    v["conclusion"] = json!(run.conclusion);
    v["started_at"] = json!(run.started_at);
    v["completed_at"] = json!(run.completed_at);
    v["name"] = json!(run.name);
    let mut output = json!({
        "title": Value::Null,
        "summary": Value::Null,
        "text": Value::Null,
        "annotations_count": 0,
        "annotations_url": format!("{API}/repos/{o}/{r}/check-runs/{id}/annotations"),
    });
    if let (Some(out), Some(sent)) = (output.as_object_mut(), run.output.as_object()) {
        for key in ["title", "summary", "text"] {
            if let Some(v) = sent.get(key) {
                out.insert(key.to_string(), v.clone());
            }
        }
    }
    v["output"] = output;
    v["pull_requests"] = json!([]);
    v
}

fn check_app(state: &GitHubState, caller: &Caller) -> Result<(), Response> {
    if state.options.check_runs_need_app && !matches!(caller, Caller::Installation { .. }) {
        return Err(gh_error(
            StatusCode::FORBIDDEN,
            "You must authenticate via a GitHub App.",
        ));
    }
    Ok(())
}

/// Applies `status`/`conclusion`/... from `body` to `run`, validating like GitHub.
fn apply_check_fields(run: &mut CheckRun, body: &Map<String, Value>) -> Result<(), Response> {
    if let Some(name) = opt_str(body, "name")? {
        run.name = name;
    }
    if let Some(url) = opt_str(body, "details_url")? {
        run.details_url = Some(url);
    }
    if let Some(id) = opt_str(body, "external_id")? {
        run.external_id = Some(id);
    }
    if let Some(at) = opt_str(body, "started_at")? {
        run.started_at = Some(at);
    }
    let status = opt_str(body, "status")?;
    let conclusion = opt_str(body, "conclusion")?;
    if let Some(s) = &status {
        if !CHECK_STATUSES.contains(&s.as_str()) {
            return Err(invalid_request(&format!(
                "For 'properties/status', \"{s}\" is not one of {}.",
                CHECK_STATUSES.join(", ")
            )));
        }
        run.status = s.clone();
    }
    if let Some(c) = &conclusion {
        if !CONCLUSIONS.contains(&c.as_str()) {
            return Err(invalid_request(&format!(
                "For 'properties/conclusion', \"{c}\" is not one of {}.",
                CONCLUSIONS.join(", ")
            )));
        }
        run.conclusion = Some(c.clone());
        run.status = "completed".to_string();
    }
    if run.status == "completed" && run.conclusion.is_none() {
        return Err(invalid_request(
            "No subschema in \"anyOf\" matched.\n\"conclusion\" wasn't supplied.",
        ));
    }
    if run.status == "completed" {
        let at = opt_str(body, "completed_at")?.unwrap_or_else(now);
        run.completed_at.get_or_insert(at);
    }
    match body.get("output") {
        None | Some(Value::Null) => {}
        Some(Value::Object(out)) => {
            if !out.get("title").is_some_and(Value::is_string)
                || !out.get("summary").is_some_and(Value::is_string)
            {
                return Err(invalid_request(
                    "For 'properties/output', \"title\" and \"summary\" are required.",
                ));
            }
            run.output = Value::Object(out.clone());
        }
        Some(other) => {
            return Err(invalid_request(&format!(
                "For 'properties/output', {other} is not an object."
            )));
        }
    }
    Ok(())
}

fn create_check_run(
    state: &mut GitHubState,
    caller: &Caller,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
) -> Response {
    if let Err(response) = check_app(state, caller) {
        return response;
    }
    let body = match body_object(incoming) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (name, head_sha) = match (req_str(&body, "name"), req_str(&body, "head_sha")) {
        (Ok(name), Ok(sha)) => (name, sha),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let Some(sha) = state.repo(owner, repo).and_then(|r| r.resolve(&head_sha)) else {
        return validation_failed(
            "CheckRun",
            "head_sha",
            "invalid",
            Some("No commit found for SHA"),
        );
    };
    let (o, r) = canonical(state, owner, repo);
    let mut run = CheckRun {
        id: 0,
        name,
        head_sha: sha,
        status: "queued".to_string(),
        conclusion: None,
        details_url: None,
        external_id: None,
        output: json!({}),
        updates: 0,
        owner: o,
        repo: r,
        started_at: Some(now()),
        completed_at: None,
    };
    if let Err(response) = apply_check_fields(&mut run, &body) {
        return response;
    }
    run.id = state.next_id();
    let answer = check_run_json(&run);
    state.check_runs.insert(run.id, run);
    created(&answer)
}

fn update_check_run(
    state: &mut GitHubState,
    caller: &Caller,
    incoming: &Incoming,
    owner: &str,
    repo: &str,
    id: u64,
) -> Response {
    if let Err(response) = check_app(state, caller) {
        return response;
    }
    let body = match body_object(incoming) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(mut run) = state
        .check_runs
        .get(&id)
        .filter(|r| same_repo(&r.owner, &r.repo, owner, repo))
        .cloned()
    else {
        return not_found();
    };
    if let Err(response) = apply_check_fields(&mut run, &body) {
        return response;
    }
    run.updates += 1;
    let answer = check_run_json(&run);
    state.check_runs.insert(id, run);
    ok(&answer)
}

// ---- permissions ---------------------------------------------------------------------------

fn permission(state: &GitHubState, owner: &str, repo: &str, user: &str) -> Response {
    let role = state
        .permissions
        .get(&(super::repo_key(owner, repo), user.to_ascii_lowercase()))
        .cloned()
        .unwrap_or_else(|| state.default_role.clone());
    let permission = match role.as_str() {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    let mut v = fixtures::json("github/api/get-collaborator-permission-level.json");
    v["permission"] = json!(permission);
    v["role_name"] = json!(role);
    v["user"] = user_json(user, login_id(user));
    ok(&v)
}

/// `GET /orgs/{org}/teams/{slug}/memberships/{user}`: 200 with role and state for a member
/// (active or pending), 404 for anyone else or an unknown team (GitHub's documented answers).
fn team_membership(base: &str, state: &GitHubState, org: &str, slug: &str, user: &str) -> Response {
    let key = (
        org.to_ascii_lowercase(),
        slug.to_ascii_lowercase(),
        user.to_ascii_lowercase(),
    );
    match state.team_members.get(&key) {
        Some(membership_state) => ok(&json!({
            "url": format!("{}/teams/{}/memberships/{}", base.trim_end_matches('/'), login_id(slug), url_login(user)),
            "role": "member",
            "state": membership_state,
        })),
        None => not_found(),
    }
}

// ---- GitHub App ----------------------------------------------------------------------------

fn installation_json(base: &str, state: &GitHubState, id: u64, account: &str) -> Value {
    let account = if account == "*" {
        "preview-org"
    } else {
        account
    };
    let mut account_json = user_json(account, login_id(account));
    account_json["type"] = json!("Organization");
    json!({
        "id": id,
        "account": account_json,
        "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("https://github.com/organizations/{account}/settings/installations/{id}"),
        "app_id": state.options.app_id,
        "app_slug": "preview-bot",
        "target_id": login_id(account),
        "target_type": "Organization",
        "permissions": {
            "checks": "write",
            "contents": "read",
            "deployments": "write",
            "issues": "write",
            "metadata": "read",
            "pull_requests": "write"
        },
        "events": ["check_run", "issue_comment", "pull_request"],
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "single_file_name": null,
        "repository_selection": "all"
    })
}

fn repo_installation(inner: &Inner, state: &GitHubState, owner: &str, repo: &str) -> Response {
    if state.repo(owner, repo).is_none() {
        return not_found();
    }
    match state.installation_for(owner) {
        Some(id) => {
            let account = state
                .installations
                .get(&id)
                .filter(|a| a.as_str() != "*")
                .cloned()
                .unwrap_or_else(|| owner.to_string());
            ok(&installation_json(&inner.url, state, id, &account))
        }
        None => not_found(),
    }
}

fn access_token(state: &mut GitHubState, installation_id: u64) -> Response {
    let n = state.next_id();
    let mut token = format!("ghs_fake{n:08}{}", Utc::now().timestamp_subsec_nanos());
    while token.len() < 40 {
        token.push('x');
    }
    let expires_at = Utc::now() + chrono::Duration::hours(1);
    state.installation_tokens.insert(
        token.clone(),
        IssuedToken {
            installation_id,
            expires_at,
        },
    );
    let mut v = fixtures::json("github/api/create-installation-access-token.json");
    v["token"] = json!(token);
    v["expires_at"] = json!(timestamp(expires_at));
    created(&v)
}

// ---- archives ------------------------------------------------------------------------------

fn codeload(inner: &Inner, owner: &str, repo: &str, reference: &str) -> Response {
    let state = lock(&inner.state);
    let Some(repo_state) = state.repo(owner, repo) else {
        return fake_http::text_response(StatusCode::NOT_FOUND, "404: Not Found");
    };
    let Some(sha) = repo_state.resolve(reference) else {
        return fake_http::text_response(StatusCode::NOT_FOUND, "404: Not Found");
    };
    let files = repo_state.trees.get(&sha).cloned().unwrap_or_default();
    let short: String = sha.chars().take(7).collect();
    let prefix = format!("{}-{}-{short}", repo_state.owner, repo_state.name);
    let pax = state.options.tarball_pax_header;
    drop(state);
    match tarball::build(&prefix, &sha, &files, pax) {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-gzip"),
            );
            if let Ok(value) =
                HeaderValue::from_str(&format!("attachment; filename={prefix}.tar.gz"))
            {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(e) => fake_http::text_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
