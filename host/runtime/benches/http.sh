#!/usr/bin/env bash
# HTTP invoke latency and throughput of `echo` through `tandem serve`, measured with wrk on loopback.
# Runs the release binary with one async worker (so the load generator has the other core of a
# 2-core machine), with and without the audit log, at several connection counts.
# Usage: host/runtime/benches/http.sh [SECONDS]   (needs target/release/tandem and target/agents)
set -euo pipefail
cd "$(dirname "$0")/../../.."

seconds="${1:-10}"
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >&2; else sudo apt-get install -y -qq wrk >&2; fi
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

run() {
  local label="$1"; shift
  target/release/tandem serve --agents target/agents --addr 127.0.0.1:0 "$@" >"$tmp/out" 2>"$tmp/err" &
  server_pid=$!
  for _ in $(seq 100); do grep -q listening "$tmp/out" 2>/dev/null && break; sleep 0.1; done
  local url
  url="$(sed -n 's/^listening on //p' "$tmp/out")"
  for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
  # Warm up: instances, caches, connections.
  wrk -t1 -c8 -d2s -s "$tmp/echo.lua" "$url/v1/agents/echo/invoke" >/dev/null
  for connections in 1 8 32; do
    wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$tmp/echo.lua" "$url/v1/agents/echo/invoke" >"$tmp/wrk"
    printf '%-28s %4s conns  %10s req/s  p50 %8s  p90 %8s  p99 %8s  errors %s\n' "$label" "$connections" \
      "$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")" \
      "$(awk '$1 == "50%" {print $2}' "$tmp/wrk")" \
      "$(awk '$1 == "90%" {print $2}' "$tmp/wrk")" \
      "$(awk '$1 == "99%" {print $2}' "$tmp/wrk")" \
      "$(grep -E 'Non-2xx|Socket errors' "$tmp/wrk" | tr -s ' ' | paste -sd ';' - || true)"
  done
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
}

echo "HTTP invoke of echo (wrk, loopback, ${seconds}s per row):"
run "1 worker, no audit log" --workers 1 --no-audit
run "1 worker, audit log" --workers 1 --audit-log "$tmp/audit.jsonl"
run "2 workers, no audit log" --workers 2 --no-audit
target/release/tandem audit verify "$tmp/audit.jsonl" | sed 's/, head .*//'
