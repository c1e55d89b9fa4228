#!/usr/bin/env bash
# The same agent in Rust, Python and JavaScript: `echo` (shipped, Rust) against a Python `echo`
# written with the `tandem_agent` helper and a JavaScript one written with the `tandem-agent` helper,
# both built by `tandem build` (componentize-py, installed into target/componentize-py-venv when
# missing; esbuild and componentize-js, installed by `npm install` in agents-js/). For each: the component's size, a cold start (`tandem
# run` with an empty code cache: compile, load, one call), a start with the code cached, and the warm
# call through `tandem serve` (p50 and p99 of sequential invokes over one kept-alive connection).
# Usage: host/runtime/benches/languages.sh [CALLS] [TANDEM_BINARY]
#        (default 2000 calls and target/release/tandem; needs target/agents)
set -euo pipefail
cd "$(dirname "$0")/../../.."

calls="${1:-2000}"
tandem="$(realpath "${2:-target/release/tandem}")"
tmp="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

venv=target/componentize-py-venv
if ! "$venv/bin/componentize-py" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet componentize-py==0.25.1
fi

if ! [ -x agents-js/node_modules/.bin/componentize-js ]; then
  (cd agents-js && npm install --no-audit --no-fund >/dev/null)
fi

mkdir -p "$tmp/agents" "$tmp/pyecho/echo-py" "$tmp/jsecho/echo-js"
cp target/agents/echo.wasm "$tmp/agents/"
cat >"$tmp/pyecho/echo-py/app.py" <<'EOF'
from tandem_agent import Agent

agent = Agent("echo-py", "Returns its input unchanged", version="0.1.0")


@agent.operation("echo", "Returns the input as it is", deterministic=True, example={"message": "hello"})
def echo(input, task):
    return input


Handler, Schemas = agent.exports()
EOF
TANDEM_COMPONENTIZE_PY="$venv/bin/componentize-py" "$tandem" build "$tmp/pyecho/echo-py" \
  --agents "$tmp/agents" >/dev/null 2>"$tmp/build.err" || { cat "$tmp/build.err"; exit 1; }
cat >"$tmp/jsecho/echo-js/app.js" <<'EOF'
import { Agent } from "tandem-agent";

const agent = new Agent({ id: "echo-js", description: "Returns its input unchanged", version: "0.1.0" });

agent.operation(
  { name: "echo", description: "Returns the input as it is", deterministic: true, example: { message: "hello" } },
  (input) => input,
);

export const { handler, schemas } = agent.exports();
EOF
TANDEM_ESBUILD="$PWD/agents-js/node_modules/.bin/esbuild" \
  TANDEM_COMPONENTIZE_JS="$PWD/agents-js/node_modules/.bin/componentize-js" \
  "$tandem" build "$tmp/jsecho/echo-js" --agents "$tmp/agents" >/dev/null 2>"$tmp/build.err" \
  || { cat "$tmp/build.err"; exit 1; }

seconds() { python3 -c 'import sys, time; t = time.time(); import subprocess; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(f"{time.time() - t:.2f}")' "$@"; }

declare -A size cold cached
for agent in echo echo-py echo-js; do
  size[$agent]=$(du -k "$tmp/agents/$agent.wasm" | cut -f1)
  cold[$agent]=$(seconds "$tandem" --cache-dir "$tmp/cache-$agent" run "$agent" --agents "$tmp/agents" --op echo --input '{"message": "hi"}')
  cached[$agent]=$(seconds "$tandem" --cache-dir "$tmp/cache-$agent" run "$agent" --agents "$tmp/agents" --op echo --input '{"message": "hi"}')
done

TANDEM_LOG=warn "$tandem" --cache-dir "$tmp/cache-serve" --data-dir "$tmp/data" serve --agents "$tmp/agents" \
  --no-audit --addr 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 600); do grep -q "http://" "$tmp/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's|.*\(http://[0-9.:]*\).*|\1|p' "$tmp/out" | head -1)

printf '%-8s %10s %12s %12s %10s %10s\n' agent size cold-start cached-start p50 p99
for agent in echo echo-py echo-js; do
  printf '%-8s %8s K %10s s %10s s' "$agent" "${size[$agent]}" "${cold[$agent]}" "${cached[$agent]}"
  python3 - "$url" "$agent" "$calls" <<'EOF'
import http.client, json, sys, time
url, agent, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = url[len("http://"):].split(":")
for _ in range(1200):
    try:
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        c.request("GET", "/readyz"); r = c.getresponse(); r.read()
        if r.status == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
body = json.dumps({"op": "echo", "input": {"message": "hi"}, "cache": False})
times = []
for i in range(calls + 100):
    t = time.perf_counter()
    c.request("POST", f"/v1/agents/{agent}/invoke", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    if i >= 100:
        times.append(time.perf_counter() - t)
times.sort()
print(f" {times[len(times) // 2] * 1e6:8.0f} us {times[int(len(times) * 0.99)] * 1e6:7.0f} us")
EOF
done
