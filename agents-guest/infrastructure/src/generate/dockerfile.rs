//! The Dockerfile: two stages (the `tandem` binary built from the repository; a slim runtime with
//! the binary, the agents and a user without privileges), bases pinned by digest.

use super::{DIGEST_PLACEHOLDER, health_command};
use crate::service::Service;

const BUILD_BASE: &str = "docker.io/library/rust:1.95-slim-trixie";
const RUNTIME_BASE: &str = "docker.io/library/debian:trixie-slim";

pub fn render(service: &Service) -> String {
    let build = service
        .digests
        .build
        .as_deref()
        .unwrap_or(DIGEST_PLACEHOLDER);
    let runtime = service
        .digests
        .runtime
        .as_deref()
        .unwrap_or(DIGEST_PLACEHOLDER);
    let placeholder_note = if build == DIGEST_PLACEHOLDER || runtime == DIGEST_PLACEHOLDER {
        format!(
            "# Pin the bases: replace {DIGEST_PLACEHOLDER} with each image's digest, from\n\
             #   docker buildx imagetools inspect IMAGE --format '{{{{json .Manifest.Digest}}}}'\n"
        )
    } else {
        String::new()
    };
    let env: Vec<String> = service
        .environment()
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!(
        r#"# syntax=docker/dockerfile:1
# {name}: the Tandem host built from this repository, serving the agents in target/agents
# (build them first: `just agents`). Build with `docker build -t {image} .`
{placeholder_note}
# Build stage: the `tandem` binary.
FROM {BUILD_BASE}@{build} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tandem-cli --bin tandem

# Runtime stage: the binary, the agents (read-only, owned by root) and an unprivileged user.
FROM {RUNTIME_BASE}@{runtime}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin tandem \
 && mkdir -p {data} \
 && chown 10001:10001 {data}
COPY --from=build /src/target/release/tandem /usr/local/bin/tandem
COPY target/agents/ {agents}/
ENV {env}
USER 10001:10001
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["bash", "-c", "{health}"]
ENTRYPOINT ["/usr/local/bin/tandem"]
CMD ["serve"]
"#,
        name = service.name,
        image = service.image_ref(),
        data = service.data_dir,
        agents = service.agents_dir.trim_end_matches('/'),
        env = env.join(" \\\n    "),
        port = service.port,
        health = health_command(service.port)
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
    )
}
