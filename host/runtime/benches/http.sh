#!/usr/bin/env bash
# HTTP invoke latency and throughput of `echo` through `tandem serve`, measured with wrk on loopback:
# the release binary with one async worker (so the load generator has the other core of a 2-core
# machine), with and without the audit log, and with its defaults (audit log on); then the peer:
# the same trivial job (a wasi:http handler answering {"output": <body>}) through `wasmtime serve`
# of the pinned wasmtime, with its defaults and tuned, under the same load. Ends with Tandem's
# figures at 8 connections as ratios of the peer's.
# Usage: host/runtime/benches/http.sh [SECONDS] [BINARY]   (BINARY: default target/release/tandem;
# needs target/agents and target/peer/http-echo.wasm; installs wrk and the `wasmtime` CLI when missing)
set -euo pipefail
cd "$(dirname "$0")/../../.."

seconds="${1:-10}"
tandem="${2:-target/release/tandem}"
wasmtime_version=48.0.8
wasmtime=target/peer/wasmtime/bin/wasmtime
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >&2; else sudo apt-get install -y -qq wrk >&2; fi
fi
if ! "$wasmtime" --version 2>/dev/null | grep -q "^wasmtime $wasmtime_version "; then
  echo "==> installing wasmtime-cli $wasmtime_version into target/peer (a release build: 15-25 min on 2 cores)" >&2
  cargo install wasmtime-cli --version "$wasmtime_version" --locked --root target/peer/wasmtime \
    --target-dir target/peer/build >&2
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/echo.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"op":"echo","input":{"hello":"world"}}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$tmp/peer.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"hello":"world"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# load LABEL URL SCRIPT: a warm-up, then a row per connection count; each row also goes to
# $tmp/rows as "LABEL|CONNS|REQ/S|P99".
load() {
  local label="$1" url="$2" script="$3"
  wrk -t1 -c8 -d2s -s "$script" "$url" >/dev/null
  for connections in 1 8 32; do
    wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$script" "$url" >"$tmp/wrk"
    local rps p99
    rps="$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")"
    p99="$(awk '$1 == "99%" {print $2}' "$tmp/wrk")"
    printf '%-30s %4s conns  %10s req/s  p50 %8s  p90 %8s  p99 %8s  errors %s\n' "$label" "$connections" \
      "$rps" \
      "$(awk '$1 == "50%" {print $2}' "$tmp/wrk")" \
      "$(awk '$1 == "90%" {print $2}' "$tmp/wrk")" \
      "$p99" \
      "$(grep -E 'Non-2xx|Socket errors' "$tmp/wrk" | tr -s ' ' | paste -sd ';' - || true)"
    echo "$label|$connections|$rps|$p99" >>"$tmp/rows"
  done
}

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (10 s at most).
wait_for() {
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.1; done
  echo "no '$2' in $1 after 10 s:" >&2; cat "$1" >&2; exit 1
}

run() {
  local label="$1"; shift
  "$tandem" serve --agents target/agents --addr 127.0.0.1:0 "$@" >"$tmp/out" 2>"$tmp/err" &
  server_pid=$!
  wait_for "$tmp/out" listening
  local url
  url="$(sed -n 's/^listening on //p' "$tmp/out")"
  for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
  load "$label" "$url/v1/agents/echo/invoke" "$tmp/echo.lua"
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
}

peer() {
  local label="$1"; shift
  "$wasmtime" serve --addr 127.0.0.1:0 "$@" target/peer/http-echo.wasm >"$tmp/peer-out" 2>"$tmp/peer-err" &
  server_pid=$!
  wait_for "$tmp/peer-err" "Serving HTTP on"
  local url
  url="$(sed -n 's|^Serving HTTP on \(http://[^ ]*\)/$|\1|p' "$tmp/peer-err")"
  local answer
  answer="$(curl -sf -d '{"hello":"world"}' "$url/")"
  [ "$answer" = '{"output":{"hello":"world"}}' ] || { echo "the peer answered: $answer" >&2; exit 1; }
  load "$label" "$url/" "$tmp/peer.lua"
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
}

echo "HTTP invoke of echo (wrk, loopback, ${seconds}s per row):"
run "1 worker, no audit log" --workers 1 --no-audit
run "1 worker, audit log" --workers 1 --audit-log "$tmp/audit.jsonl"
run "2 workers, no audit log" --workers 2 --no-audit
"$tandem" audit verify "$tmp/audit.jsonl" | sed 's/, head .*//'
run "tandem defaults (audit log)" --audit-log "$tmp/defaults.jsonl"
peer "wasmtime serve, defaults"
peer "wasmtime serve, tuned" -S cli -O pooling-allocator=y -O pooling-memory-keep-resident=1048576 \
  -O pooling-table-keep-resident=65536 --max-instance-reuse-count 128

# figure LABEL FIELD: the row's req/s (3) or p99 (4) at 8 connections.
figure() { awk -F'|' -v label="$1" -v field="$2" '$1 == label && $2 == 8 {print $field}' "$tmp/rows"; }
# micros P99: wrk's "612.00us" / "1.20ms" / "2.00s" in microseconds.
micros() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) print v; else if (t ~ /ms$/) print v * 1000; else print v * 1000000 }'; }
for ours in "1 worker, audit log" "tandem defaults (audit log)"; do
  for peer in "wasmtime serve, defaults" "wasmtime serve, tuned"; do
    awk -v t="$ours" -v p="$peer" -v tr="$(figure "$ours" 3)" -v pr="$(figure "$peer" 3)" \
        -v tp="$(micros "$(figure "$ours" 4)")" -v pp="$(micros "$(figure "$peer" 4)")" \
      'BEGIN { printf "8 conns: %s / %s: %.2fx the req/s, p99 %.0f us against %.0f us\n", t, p, tr / pr, tp, pp }'
  done
done
