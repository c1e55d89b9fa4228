#!/usr/bin/env bash
# Regenerates the crash fixtures in this directory by really running the failing programs in
# `programs/` (Rust, Python, Node.js, Go, Java) and a trapping guest in the host. Each program is
# copied to /tmp/tandem-crash/app first, so the paths in the traces are the same on every machine.
# Run from anywhere: `bash tests/data/debug/regenerate.sh` (needs rustc, python3, node, go, java, and
# `just agents` for the Tandem trap). A tool that is missing is skipped with a note; its fixtures stay.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
app=/tmp/tandem-crash/app
rm -rf /tmp/tandem-crash && mkdir -p "$app" && cp "$here"/programs/* "$app"/
cd "$app"

have() { command -v "$1" >/dev/null || { echo "skipped: $1 is not installed" >&2; return 1; }; }
# run OUT CMD...: the program's stdout and stderr, as a terminal would show them.
run() { local out=$1; shift; "$@" > "$here/$out" 2>&1; echo "$out: exit $?" >&2; }

if have rustc; then
  rustc -g -C debuginfo=1 -o crash-rs crash.rs
  RUST_BACKTRACE=1 run rust-index.txt ./crash-rs index
  RUST_BACKTRACE=full run rust-index-full.txt ./crash-rs index
  RUST_BACKTRACE=1 run rust-unwrap.txt ./crash-rs unwrap
  RUST_BACKTRACE=1 run rust-divide.txt ./crash-rs divide
  RUST_BACKTRACE=0 run rust-expect.txt ./crash-rs expect
fi
if have python3; then
  for kind in key index chained cause recursion zero none group; do run "python-$kind.txt" python3 crash.py "$kind"; done
fi
if have node; then
  for kind in undefined async range refused; do run "node-$kind.txt" node crash.js "$kind"; done
fi
if have go; then
  GOFLAGS=-trimpath=false go build -o crash-go crash.go
  for kind in index nil divide; do run "go-$kind.txt" ./crash-go "$kind"; done
  GOTRACEBACK=all run go-map.txt ./crash-go map   # every goroutine, not only the one that panicked
fi
if have java; then
  for kind in npe cause index; do run "java-$kind.txt" java Crash.java "$kind"; done
fi
if [ -x "$root/target/debug/tandem" ] && [ -f "$root/target/test-agents/hostile.wasm" ]; then
  for op in panic spin grow recurse; do
    run "tandem-$op.txt" "$root/target/debug/tandem" run "$root/target/test-agents/hostile.wasm" \
      --op "$op" --no-cache --data-dir /tmp/tandem-crash/data
  done
else
  echo "skipped: the Tandem traps need target/debug/tandem and target/test-agents/hostile.wasm (just agents)" >&2
fi

# A service log with crashes among ordinary lines, as `group` and `parse` see one: each crash follows a
# timestamped line, and the counts are the ones tests/debug_agents.rs expects.
cd "$here"
{
  n=0
  line() { n=$((n + 1)); printf '2026-12-01T10:%02d:%02dZ INFO %s\n' $((n / 60)) $((n % 60)) "$1"; }
  crash() { n=$((n + 1)); printf '2026-12-01T10:%02d:%02dZ ERROR worker %s crashed:\n' $((n / 60)) $((n % 60)) "$1"; grep -v '^starting ' "$2"; }
  line "listening on 0.0.0.0:8080"
  for i in 1 2 3; do line "request $i served in 12ms"; crash "python" python-key.txt; done
  line "configuration reloaded"
  crash rust rust-index.txt
  line "request 4 served in 9ms"
  crash node node-async.txt
  crash rust rust-index.txt
  crash java java-cause.txt
  line "request 5 served in 11ms"
  crash go go-nil.txt
  crash python python-cause.txt
  line "shutting down"
} > mixed.log
echo "mixed.log: $(wc -l < mixed.log) lines" >&2
