//! `SVC=DEST`, the words of `point`.
//!
//! SVC is a [`ServiceName`]; DEST is `pr-N` (also `#N`: the preview of pull request N of the app
//! that provides SVC), `APP#N` (the preview of another app's pull request), `APP@BRANCH` (a
//! branch preview), `staging` or `default` (back to what the config says).

use std::fmt;

use crate::error::nearest;
use crate::names::{AppName, PrNumber, ServiceName};
use crate::target::{parse_pr, pr_word};

/// At most this many `SVC=DEST` in one `point`.
pub const MAX_ROUTES: usize = 20;

/// One `SVC=DEST` of `point`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub service: ServiceName,
    pub destination: Destination,
}

/// Where `point` sends a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `pr-N`: the preview of pull request N of the app that provides the service.
    Pr(PrNumber),
    /// `APP#N`: the preview of another app's pull request.
    AppPr { app: AppName, pr: PrNumber },
    /// `APP@BRANCH`: a branch preview.
    AppBranch { app: AppName, branch: String },
    /// `staging`: the shared staging environment.
    Staging,
    /// `default`: what the config says (undoes earlier `point`s).
    Default,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Pr(pr) => write!(f, "pr-{pr}"),
            Destination::AppPr { app, pr } => write!(f, "{app}#{pr}"),
            Destination::AppBranch { app, branch } => write!(f, "{app}@{branch}"),
            Destination::Staging => f.write_str("staging"),
            Destination::Default => f.write_str("default"),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.service, self.destination)
    }
}

/// Why a word is not a `SVC=DEST`, and what it may have meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteError {
    pub reason: String,
    pub suggestion: Option<String>,
}

fn fail(reason: impl Into<String>) -> RouteError {
    RouteError {
        reason: reason.into(),
        suggestion: None,
    }
}

const DEST_FORMS: &str = "DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default`";

/// Parses one `SVC=DEST` (the word has a `=`; the first one splits it).
pub(crate) fn parse_route(word: &str) -> Result<Route, RouteError> {
    let Some((svc, dest)) = word.split_once('=') else {
        return Err(fail("expected `SVC=DEST`"));
    };
    if svc.is_empty() {
        return Err(fail("the service is missing; write `SVC=DEST`"));
    }
    if dest.is_empty() {
        return Err(fail(format!("the destination is missing; {DEST_FORMS}")));
    }
    let service = ServiceName::new(svc).map_err(|e| RouteError {
        reason: e.to_string(),
        suggestion: ServiceName::new(&svc.to_ascii_lowercase())
            .ok()
            .filter(|_| parse_destination(dest).is_ok())
            .map(|s| format!("{s}={dest}")),
    })?;
    let destination = parse_destination(dest).map_err(|mut e| {
        e.suggestion = e.suggestion.map(|d| format!("{service}={d}"));
        e
    })?;
    Ok(Route {
        service,
        destination,
    })
}

/// DEST; a suggestion is a DEST (the caller adds `SVC=`).
fn parse_destination(dest: &str) -> Result<Destination, RouteError> {
    match dest {
        "staging" => return Ok(Destination::Staging),
        "default" => return Ok(Destination::Default),
        _ => {}
    }
    if let Some(digits) = pr_word(dest) {
        let pr = parse_pr(digits).map_err(|e| fail(e.reason))?;
        return Ok(Destination::Pr(pr));
    }
    if let Some((app, digits)) = dest.split_once('#') {
        let pr = parse_pr(digits).map_err(|e| fail(e.reason))?;
        let app = AppName::new(app).map_err(|e| RouteError {
            reason: e.to_string(),
            suggestion: AppName::new(&app.to_ascii_lowercase())
                .ok()
                .map(|a| format!("{a}#{pr}")),
        })?;
        return Ok(Destination::AppPr { app, pr });
    }
    if let Some((app, branch)) = dest.split_once('@') {
        let app = AppName::new(app).map_err(|e| fail(e.to_string()))?;
        crate::names::check_branch(branch).map_err(|e| fail(e.to_string()))?;
        return Ok(Destination::AppBranch {
            app,
            branch: branch.to_string(),
        });
    }
    let suggestion = if !dest.is_empty() && dest.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("pr-{dest}"))
    } else {
        nearest(dest, ["staging", "default"]).map(str::to_string)
    };
    Err(RouteError {
        reason: format!(
            "unknown destination `{}`; {DEST_FORMS}",
            crate::error::sanitize(dest)
        ),
        suggestion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(word: &str) -> String {
        match parse_route(word) {
            Ok(r) => r.to_string(),
            Err(e) => format!("{} / {:?}", e.reason, e.suggestion),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(route("api=pr-12"), "api=pr-12");
        assert_eq!(route("api=PR-012"), "api=pr-12");
        assert_eq!(route("api=#12"), "api=pr-12");
        assert_eq!(route("api=shop#3"), "api=shop#3");
        assert_eq!(route("api=shop@feature/x"), "api=shop@feature/x");
        assert!(route("api=shop@").contains("branch is missing"));
        assert!(route("api=Shop@main").contains("lowercase"));
        assert_eq!(route("api=staging"), "api=staging");
        assert_eq!(route("api=default"), "api=default");
    }

    #[test]
    fn route_errors() {
        assert_eq!(
            route("api"),
            "expected `SVC=DEST` / None",
            "no `=` (never reaches here from the parser)"
        );
        assert_eq!(
            route("=pr-1"),
            "the service is missing; write `SVC=DEST` / None"
        );
        assert_eq!(
            route("api="),
            "the destination is missing; DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default` / None"
        );
        assert_eq!(
            route("Api=pr-1"),
            "service names are lowercase / Some(\"api=pr-1\")"
        );
        assert_eq!(
            route("api=stagin"),
            "unknown destination `stagin`; DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default` / Some(\"api=staging\")"
        );
        assert_eq!(
            route("api=Staging"),
            "unknown destination `Staging`; DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default` / Some(\"api=staging\")"
        );
        assert_eq!(
            route("api=42"),
            "unknown destination `42`; DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default` / Some(\"api=pr-42\")"
        );
        assert_eq!(
            route("api=pr-0"),
            "pull request numbers go from 1 to 1000000000 / None"
        );
        assert_eq!(
            route("api=Shop#3"),
            "app names are lowercase / Some(\"api=shop#3\")"
        );
        assert_eq!(
            route("api=a=b"),
            "unknown destination `a=b`; DEST is `pr-N`, `APP#N`, `APP@BRANCH`, `staging` or `default` / None"
        );
    }
}
