#!/usr/bin/env bash
# What an idle `tandem serve` costs: CPU share and resident memory with every shipped agent loaded
# (their triggers on: MONITOR samples every 10 s), measured from /proc after it settles.
# Usage: host/runtime/benches/idle.sh [SECONDS] [TANDEM_BINARY]
#        (default 20 s and target/release/tandem; needs target/agents)
set -euo pipefail
cd "$(dirname "$0")/../../.."

seconds="${1:-20}"
tandem="${2:-target/release/tandem}"
tmp="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

TANDEM_LOG=warn "$tandem" --data-dir "$tmp/data" serve --agents target/agents --addr 127.0.0.1:0 \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
# Ready (every agent compiled and loaded: /readyz answers 200), then a few seconds more for the
# first trigger runs.
for _ in $(seq 600); do grep -q "http://" "$tmp/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/out" | head -1)
ready() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  head -n 1 <&3 | grep -q ' 200 '
}
for _ in $(seq 1200); do ready 2>/dev/null && break; sleep 0.1; done
sleep 5
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(cpu)
sleep "$seconds"
after=$(cpu)
hz=$(getconf CLK_TCK)
agents=$(ls target/agents/*.wasm | wc -l)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
awk -v t=$((after - before)) -v hz="$hz" -v s="$seconds" -v rss="$rss" -v n="$agents" 'BEGIN {
  printf "idle tandem serve, %d agents, %d s: CPU %.2f %% of a core, RSS %.1f MiB\n", n, s, 100 * t / (hz * s), rss / 1024
}'
