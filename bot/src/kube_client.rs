//! The Kubernetes client of `serve` and `exec`: kube's default stack from a `kube::Config`, with
//! a layer that counts failed API calls in `preview_bot_api_errors_total{service="kubernetes"}`.
//! Counted: transport errors and timeouts, 401, 403, 429 and 5xx. Not counted: 404 and 409,
//! which the bot expects (absent objects, conflicts it resolves), and 422, which is a rendered
//! manifest's fault and reported to the person who asked.

use crate::metrics::Metrics;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use std::sync::Arc;
use std::task::{Context, Poll};

/// A client for `config` whose failed calls are counted in `metrics`.
pub fn client(config: kube::Config, metrics: Arc<Metrics>) -> Result<kube::Client, kube::Error> {
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&CountErrors { metrics })
        .build())
}

/// The client from `KUBECONFIG` or the in-cluster service account.
pub async fn infer(metrics: Arc<Metrics>) -> anyhow::Result<kube::Client> {
    use anyhow::Context as _;
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (set KUBECONFIG or run in a cluster)")?;
    Ok(client(config, metrics)?)
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
