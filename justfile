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

# Everything CI checks: formatting, clippy, all tests against freshly built components, and a
# short run of every fuzz target.
test: agents lint
    cargo test --workspace --exclude tandem-fuzz --all-targets
    # On CI (a one-off checkout) the test build's gigabytes go before the fuzz build needs the disk
    # (a CI run once ran out of it there).
    if [ "${CI:-}" = true ]; then rm -rf target/debug/deps target/debug/build target/debug/.fingerprint; fi
    {{just_executable()}} fuzz 10

# Fuzz the parsers users feed (manifest, plan, invoke body, state import, audit log, the JSON check) with cargo-fuzz
# (libFuzzer), SECONDS each; installs cargo-fuzz when missing. Prints each target's executions;
# a finding fails the recipe and is kept in target/fuzz/artifacts/<target>/.
fuzz SECONDS="60":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    cargo fuzz build -s none --dev --target-dir target/fuzz
    for target in $(cargo fuzz list); do \
        mkdir -p target/fuzz/corpus/$target target/fuzz/artifacts/$target; \
        cargo fuzz run -s none --dev --target-dir target/fuzz $target target/fuzz/corpus/$target fuzz/seeds/$target -- \
            -max_total_time={{SECONDS}} -max_len=65536 -artifact_prefix=target/fuzz/artifacts/$target/ 2>target/fuzz/$target.log \
            || { tail -40 target/fuzz/$target.log; echo "fuzz: $target found a crash (target/fuzz/artifacts/$target/)"; exit 1; }; \
        echo "fuzz: $target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' target/fuzz/$target.log), no finding"; \
    done

# Formatting and clippy, warnings denied.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Many thousands of hostile calls against one host; prints its resident memory before and after.
soak: agents
    cargo bench -p tandem --bench soak

# Benchmarks in release mode: the host's overhead against raw wasmtime, throughput, cold start, HTTP
# (with `wasmtime serve` as the peer), a cluster of 1-3 hosts over NATS, the idle server, languages.
bench: agents
    cargo build --release -p tandem-cli --bin tandem
    cargo bench -p tandem --bench overhead
    cargo bench -p tandem --bench swap
    cargo bench -p tandem --bench egress
    host/runtime/benches/http.sh
    host/runtime/benches/cluster.sh
    host/runtime/benches/idle.sh
    host/runtime/benches/languages.sh

# The code agents against the established tools on this machine's Python standard library:
# LINTER vs pycodestyle and pyflakes (installed into target/bench-venv), SECURITY's scans in MB/s,
# CRYPTOEXPERT's SHA-256 and BLAKE3 in the sandbox vs the same code natively.
bench-agents: agents
    agents-guest/bench.sh

# HTTP invoke latency and throughput of `echo` through `tandem serve`, with wrk (installed if missing).
bench-http: agents
    cargo build --release -p tandem-cli --bin tandem
    host/runtime/benches/http.sh
