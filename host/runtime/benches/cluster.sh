#!/usr/bin/env bash
# A cluster on one machine: `echo` throughput through `tandem serve --nats` with 1, 2 and 3 hosts on
# one nats-server (JetStream on), wrk at 8 connections against the first host (which hands every
# call to the cluster: NATS picks a host per call), next to one host without a cluster; then how
# long a swap on one host takes to reach the other two (PUT of the other `twin` version, then
# polling both for it), five times; last, three hosts with `--placement local` (the first host
# runs what it has room for itself). All on loopback: the hosts, nats-server and wrk share this
# machine's cores, so more hosts add no cores; the rows show the cost of the hop, not scaling.
# Usage: host/runtime/benches/cluster.sh [SECONDS] [BINARY]   (BINARY: default target/release/tandem;
# needs target/agents and target/test-agents; installs wrk and nats-server when missing)
set -euo pipefail
cd "$(dirname "$0")/../../.."

seconds="${1:-10}"
tandem="${2:-target/release/tandem}"
install() {
  echo "==> installing $1" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$1" >&2; else sudo apt-get install -y -qq "$1" >&2; fi
}
command -v wrk >/dev/null || install wrk
command -v nats-server >/dev/null || install nats-server

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

token="cluster-bench-admin-token-0123456789"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
nats-server -a 127.0.0.1 -p "$port" -js -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
pids+=($!)
nats="nats://127.0.0.1:$port"
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

mkdir -p "$tmp/agents"
cp target/agents/echo.wasm "$tmp/agents/"
cp target/test-agents/twin-v1.wasm "$tmp/agents/twin.wasm"
cat > "$tmp/echo.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"op":"echo","input":{"hello":"world"}}'
wrk.headers["Content-Type"] = "application/json"
LUA

# start ID [ARGS...]: a host serving $tmp/agents; its URL in $tmp/ID.url.
start() {
  local id="$1"; shift
  TANDEM_ADMIN_TOKEN="$token" "$tandem" --data-dir "$tmp/data-$id" serve --agents "$tmp/agents" \
    --addr 127.0.0.1:0 --no-audit "$@" >"$tmp/$id.out" 2>"$tmp/$id.err" &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$tmp/$id.out" 2>/dev/null && break; sleep 0.1; done
  local url
  url="$(sed -n 's/^listening on //p' "$tmp/$id.out")"
  [ -n "$url" ] || { echo "host $id did not start:" >&2; cat "$tmp/$id.err" >&2; exit 1; }
  for _ in $(seq 200); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.05; done
  echo "$url" >"$tmp/$id.url"
}

# stop_hosts: every host started so far (nats-server stays).
stop_hosts() {
  for pid in "${pids[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=("${pids[0]}")
}

row() {
  local label="$1" url="$2"
  wrk -t1 -c8 -d2s -s "$tmp/echo.lua" "$url/v1/agents/echo/invoke" >/dev/null
  wrk -t1 -c8 -d"${seconds}s" --latency -s "$tmp/echo.lua" "$url/v1/agents/echo/invoke" >"$tmp/wrk"
  printf '%-28s 8 conns  %10s req/s  p50 %8s  p99 %8s  errors %s\n' "$label" \
    "$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")" \
    "$(awk '$1 == "50%" {print $2}' "$tmp/wrk")" \
    "$(awk '$1 == "99%" {print $2}' "$tmp/wrk")" \
    "$(grep -E 'Non-2xx|Socket errors' "$tmp/wrk" | tr -s ' ' | paste -sd ';' - || true)"
}

echo "echo through the cluster (wrk -t1 -c8, loopback, ${seconds}s per row; every process on this machine's $(nproc) cores):"
start solo
row "1 host, no cluster" "$(cat "$tmp/solo.url")"
stop_hosts
for hosts in 1 2 3; do
  for n in $(seq "$hosts"); do start "h$n" --nats "$nats" --host-id "h$n"; done
  url="$(cat "$tmp/h1.url")"
  # Which hosts answered 30 calls: the queue group spreads them.
  spread="$(for _ in $(seq 30); do
    curl -sf -H 'content-type: application/json' -d '{"op":"echo","input":1}' "$url/v1/agents/echo/invoke"; echo
  done | sed -n 's/.*"host":"\([^"]*\)".*/\1/p' | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')"
  row "$hosts host(s) over NATS" "$url"
  echo "    30 calls answered by: ${spread%, }"
  [ "$hosts" = 3 ] || stop_hosts
done

echo "swap propagation (PUT on h1, until h2 and h3 serve the new version):"
python3 - "$token" "$(cat "$tmp/h1.url")" "$(cat "$tmp/h2.url")" "$(cat "$tmp/h3.url")" <<'PY'
import json, sys, time, urllib.request
token, h1, others = sys.argv[1], sys.argv[2], sys.argv[3:]
def version(url):
    with urllib.request.urlopen(f"{url}/v1/agents/twin") as answer:
        return json.load(answer)["version"]
for round in range(1, 6):
    name, want = ("twin-v2", "2.0.0") if round % 2 else ("twin-v1", "1.0.0")
    body = open(f"target/test-agents/{name}.wasm", "rb").read()
    request = urllib.request.Request(f"{h1}/v1/agents/twin", data=body, method="PUT",
                                     headers={"authorization": f"Bearer {token}"})
    started = time.monotonic()
    urllib.request.urlopen(request).read()
    swapped = time.monotonic()
    while not all(version(url) == want for url in others):
        if time.monotonic() - swapped > 30:
            sys.exit(f"round {round}: the other hosts do not serve {want} after 30 s")
        time.sleep(0.001)
    reached = time.monotonic()
    print(f"  round {round}: to {want}: the swap on h1 {1000 * (swapped - started):6.1f} ms, "
          f"on h2 and h3 {1000 * (reached - swapped):6.1f} ms after it")
PY
stop_hosts
for n in 1 2 3; do start "h$n" --nats "$nats" --host-id "h$n" --placement local; done
row "3 hosts, --placement local" "$(cat "$tmp/h1.url")"
