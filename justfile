# Tandem's tasks. On a fresh machine use `.ci/just <recipe>`: it installs `just` first.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The demo: build the agents, list them, and lint the linter's sample files.
default: demo

# Compile every guest crate to a component in target/agents/<id>.wasm (test guests: target/test-agents/).
agents:
    agents-guest/build.sh

# List the agents, then lint the sample files with the `linter` agent (read-only access to them only).
demo: agents
    target/debug/tandem list
    target/debug/tandem run linter --op lint --dir agents-guest/linter/samples::samples --input '{"paths": ["samples"]}'

# Everything CI checks: formatting, clippy, and all tests against freshly built components.
test: agents lint
    cargo test --workspace --all-targets

# Formatting and clippy, warnings denied.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Many thousands of hostile calls against one host; prints its resident memory before and after.
soak: agents
    cargo bench -p tandem --bench soak

# Benchmarks in release mode: the host's overhead against raw wasmtime, throughput, cold start.
bench: agents
    cargo build --release -p tandem --bin tandem
    cargo bench -p tandem --bench overhead
    cargo bench -p tandem --bench swap
    host/benches/http.sh

# HTTP invoke latency and throughput of `echo` through `tandem serve`, with wrk (installed if missing).
bench-http: agents
    cargo build --release -p tandem --bin tandem
    host/benches/http.sh
