//! The Kubernetes client of `serve` and `exec`: kube's default stack from a `kube::Config`, with
//! a deadline on every call but watches, and a layer that counts failed API calls in
//! `preview_bot_api_errors_total{service="kubernetes"}`.
//! Counted: transport errors and timeouts, 401, 403, 429 and 5xx. Not counted: 404 and 409,
//! which the bot expects (absent objects, conflicts it resolves), and 422, which is a rendered
//! manifest's fault and reported to the person who asked.

use crate::metrics::Metrics;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::BoxError;

/// A client for `config` whose calls fail after `timeout` (watches excepted: they stay open on
/// purpose) and whose failed calls are counted in `metrics`.
pub fn client(
    config: kube::Config,
    metrics: Arc<Metrics>,
    timeout: Duration,
) -> Result<kube::Client, kube::Error> {
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&Deadline { timeout })
        .with_layer(&CountErrors { metrics })
        .build())
}

/// The client from `KUBECONFIG` or the in-cluster service account.
pub async fn infer(metrics: Arc<Metrics>, timeout: Duration) -> anyhow::Result<kube::Client> {
    use anyhow::Context as _;
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (set KUBECONFIG or run in a cluster)")?;
    Ok(client(config, metrics, timeout)?)
}

/// Fails a call whose response has not started within `timeout`. kube's own read timeout is
/// 295 s so that watches survive; a hung apply or delete must not hold a preview that long.
#[derive(Clone)]
struct Deadline {
    timeout: Duration,
}

impl<S> tower::Layer<S> for Deadline {
    type Service = WithDeadline<S>;
    fn layer(&self, inner: S) -> WithDeadline<S> {
        WithDeadline {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
struct WithDeadline<S> {
    inner: S,
    timeout: Duration,
}

/// Watches (`?watch=true`, also `=1`) are long polls by design.
fn is_watch<B>(request: &Request<B>) -> bool {
    request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1"))
    })
}

impl<S, ReqBody> tower::Service<Request<ReqBody>> for WithDeadline<S>
where
    S: tower::Service<Request<ReqBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let deadline = (!is_watch(&request)).then_some(self.timeout);
        let call = self.inner.call(request);
        Box::pin(async move {
            match deadline {
                None => call.await.map_err(Into::into),
                Some(timeout) => match tokio::time::timeout(timeout, call).await {
                    Ok(result) => result.map_err(Into::into),
                    Err(_) => {
                        Err(format!("no answer from the Kubernetes API within {timeout:?}").into())
                    }
                },
            }
        })
    }
}

#[derive(Clone)]
struct CountErrors {
    metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for CountErrors {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

fn is_error(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    ) || status.is_server_error()
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Counted<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let call = self.inner.call(request);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let result = call.await;
            if result.as_ref().map_or(true, |r| is_error(r.status())) {
                metrics.api_error("kubernetes");
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap_or_default()
    }

    #[test]
    fn only_watches_escape_the_deadline() {
        assert!(is_watch(&request(
            "/apis/apps/v1/namespaces/a/deployments?fieldSelector=x&watch=true&timeoutSeconds=290"
        )));
        assert!(is_watch(&request("/api/v1/pods?watch=1")));
        assert!(!is_watch(&request("/api/v1/pods?watch=false")));
        assert!(!is_watch(&request("/api/v1/namespaces/watch-this")));
        assert!(!is_watch(&request(
            "/api/v1/pods?labelSelector=watch%3Dtrue"
        )));
    }
}
