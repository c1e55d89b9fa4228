#!/usr/bin/env bash
# Builds every guest crate into a component:
#   agents-guest/<id>/  -> target/agents/<id>.wasm       (the shipped agents)
#   tests/guests/<id>/  -> target/test-agents/<id>.wasm  (test-only guests, if any)
#   host/runtime/benches/guests/<id>/ -> target/peer/<id>.wasm  (`wasi:http` handlers the
#                                        benchmarks serve with `wasmtime serve`: not agents)
#
# The core modules are built for wasm32-wasip1 with rustup's target when it is installed (or can be
# installed within two minutes), and otherwise with Debian's Rust and -Zbuild-std (see
# shared/GUEST-TOOLCHAIN.md); the apt packages for that route are installed when missing.
# `tandem componentize` then adds the WASI adapter, which comes from its crate, never a download.
# Set TANDEM_GUEST_ROUTE=rustup|debian to force a route.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=wasm32-wasip1
guest_dir=$root/target/guest
out_dir=$guest_dir/$target/guest

log() { printf '==> %s\n' "$*" >&2; }

have_rustup_target() {
  command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$target"
}

choose_route() {
  case "${TANDEM_GUEST_ROUTE:-}" in
    rustup|debian) echo "$TANDEM_GUEST_ROUTE"; return ;;
    "") ;;
    *) echo "TANDEM_GUEST_ROUTE must be rustup or debian, not '$TANDEM_GUEST_ROUTE'" >&2; exit 2 ;;
  esac
  if have_rustup_target; then echo rustup; return; fi
  if command -v rustup >/dev/null; then
    log "trying: rustup target add $target (2 minutes at most)"
    if timeout 120 rustup target add "$target" >&2 && have_rustup_target; then echo rustup; return; fi
    log "rustup could not add $target; using Debian's Rust with -Zbuild-std"
  fi
  echo debian
}

ensure_debian_toolchain() {
  local missing=()
  for pkg in rustc-web cargo-web rust-web-src wasi-libc lld; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# Guest crates: every directory whose Cargo.toml builds a `cdylib`; its name is the agent id. Other
# crates there (agents-guest/support) are libraries the guests share.
is_guest() { [ -f "$1/Cargo.toml" ] && grep -q 'crate-type = \[.*"cdylib"' "$1/Cargo.toml"; }
crates=()
guest_dirs=(agents-guest/*/ tests/guests/*/ host/runtime/benches/guests/*/)
for dir in "${guest_dirs[@]}"; do
  is_guest "$dir" && crates+=("$(basename "$dir")")
done
packages=()
for c in "${crates[@]}"; do packages+=(-p "$c"); done

route=$(choose_route)
log "building ${#crates[@]} guests for $target ($route route)"
if [ "$route" = rustup ]; then
  cargo build --quiet --profile guest --target "$target" --target-dir "$guest_dir" "${packages[@]}"
else
  ensure_debian_toolchain
  RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc \
  RUSTFLAGS="-C linker=wasm-ld -C link-self-contained=no -L native=/usr/lib/wasm32-wasi" \
    /usr/bin/cargo build --quiet --profile guest --target "$target" --target-dir "$guest_dir" \
      -Zbuild-std=std,panic_abort "${packages[@]}"
fi

# The componentizer is part of the `tandem` binary.
cargo build --quiet -p tandem-cli --bin tandem
tandem=$root/target/debug/tandem

mkdir -p target/agents target/test-agents target/peer
for dir in "${guest_dirs[@]}"; do
  is_guest "$dir" || continue
  id=$(basename "$dir")
  kind=()
  case "$dir" in
    tests/*) dest=target/test-agents ;;
    host/*) dest=target/peer; kind=(--proxy) ;;
    *) dest=target/agents ;;
  esac
  "$tandem" componentize "${kind[@]}" "$out_dir/${id//-/_}.wasm" -o "$dest/$id.wasm"
  # The agent's manifest, when it ships one, goes beside the component.
  # (Copied only when it changed, like the component: a running test may be reading it.)
  if [ -f "$dir/$id.toml" ]; then
    cmp -s "$dir/$id.toml" "$dest/$id.toml" || cp "$dir/$id.toml" "$dest/$id.toml"
  else
    rm -f "$dest/$id.toml"
  fi
done
log "components in target/agents/ ($(ls target/agents | wc -l)) and target/test-agents/ ($(ls target/test-agents | wc -l))"
