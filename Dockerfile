# syntax=docker/dockerfile:1
# preview-bot container image: `docker build -t ghcr.io/ORG/preview-bot:TAG .`
# Stage 1 builds the binary (without the try-out mode, which embeds the test doubles); stage 2
# fetches a checksum-verified kubectl (the bot runs `kubectl kustomize` for kustomize apps; it
# never talks to a cluster through it); the final image is distroless, non-root, with a libc.

FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p preview-bot --no-default-features \
 && cp target/release/preview-bot /preview-bot

FROM debian:bookworm-slim AS kubectl
ARG KUBECTL_VERSION=v1.32.4
ARG TARGETARCH=amd64
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && curl -fsSLo /kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
 && echo "$(curl -fsSL "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256")  /kubectl" | sha256sum -c - \
 && chmod 0755 /kubectl

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /preview-bot /usr/local/bin/preview-bot
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
# 65532 is distroless' `nonroot`; install/deployment.yaml runs as the same ids.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/preview-bot"]
CMD ["serve", "--config", "/etc/preview-bot/preview-bot.toml"]
