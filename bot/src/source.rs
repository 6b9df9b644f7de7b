//! Where an app's manifests come from at a commit: GitHub's tarball endpoint in production, a
//! local directory in the try-out mode and for `render --repo-dir`.

use crate::github::{GitHubApi, OpenPulls, PullRequest};
use preview_deploy::archive::{ArchiveLimits, SourceTree};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Clone)]
pub enum SourceProvider {
    GitHub(GitHubApi),
    /// A local checkout standing in for every PR of every repository (simulation only).
    Local(PathBuf),
}

impl SourceProvider {
    pub fn github(&self) -> Option<&GitHubApi> {
        match self {
            SourceProvider::GitHub(api) => Some(api),
            SourceProvider::Local(_) => None,
        }
    }

    pub async fn pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> anyhow::Result<PullRequest> {
        match self {
            SourceProvider::GitHub(api) => api.pull_request(owner, repo, number).await,
            SourceProvider::Local(_) => Ok(PullRequest {
                number,
                head_sha: simulated_sha(owner, repo, number),
                head_ref: format!("simulated-pr-{number}"),
                author: "you".into(),
                open: true,
                merged: false,
                html_url: format!("https://github.com/{owner}/{repo}/pull/{number}"),
            }),
        }
    }

    /// The open pull requests of `owner/repo`, every page. A local checkout lists none (its
    /// simulated PRs exist only when asked for one by one, and are open then).
    pub async fn open_pull_requests(&self, owner: &str, repo: &str) -> anyhow::Result<OpenPulls> {
        match self {
            SourceProvider::GitHub(api) => api.open_pull_requests(owner, repo).await,
            SourceProvider::Local(_) => Ok(OpenPulls::default()),
        }
    }

    /// The head commit of `branch`; None when there is no such branch.
    pub async fn branch_head(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
    ) -> anyhow::Result<Option<String>> {
        match self {
            SourceProvider::GitHub(api) => api.branch_head(owner, repo, branch).await,
            SourceProvider::Local(_) => Ok(Some(
                hex::encode(Sha256::digest(format!("{owner}/{repo}@{branch}")))[..40].to_string(),
            )),
        }
    }

    /// The check run `name` on `sha`; a local checkout has no checks and always passes.
    pub async fn check_run(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        name: &str,
    ) -> anyhow::Result<Option<crate::github::CheckRun>> {
        match self {
            SourceProvider::GitHub(api) => api.check_run(owner, repo, sha, name).await,
            SourceProvider::Local(_) => Ok(Some(crate::github::CheckRun {
                status: "completed".into(),
                conclusion: Some("success".into()),
                html_url: None,
            })),
        }
    }

    pub async fn tree(&self, owner: &str, repo: &str, sha: &str) -> anyhow::Result<SourceTree> {
        match self {
            SourceProvider::GitHub(api) => {
                let bytes = api.tarball(owner, repo, sha).await?;
                Ok(tokio::task::spawn_blocking(move || {
                    SourceTree::from_tar_gz(&bytes, ArchiveLimits::default())
                })
                .await??)
            }
            SourceProvider::Local(dir) => {
                let dir = dir.clone();
                Ok(tokio::task::spawn_blocking(move || SourceTree::from_dir(&dir)).await??)
            }
        }
    }
}

/// A stable fake commit id for simulated PRs.
fn simulated_sha(owner: &str, repo: &str, number: u64) -> String {
    hex::encode(Sha256::digest(format!("{owner}/{repo}#{number}")))[..40].to_string()
}
