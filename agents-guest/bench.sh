#!/usr/bin/env bash
# Benchmarks the code agents against the established tools on the same files in the same run:
# LINTER against pycodestyle (+ pyflakes), SECURITY's scan-secrets and scan-code in MB/s, and
# CRYPTOEXPERT's SHA-256 and BLAKE3 inside the sandbox against the same code natively.
# The corpus is the Python standard library of this machine's python3 (every .py outside
# site-packages, copied to target/bench-corpus); pycodestyle and pyflakes are installed into
# target/bench-venv from PyPI when missing. Agents run through the release `tandem` binary.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
corpus=$root/target/bench-corpus
venv=$root/target/bench-venv

log() { printf '==> %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/pycodestyle" ] || [ ! -x "$venv/bin/pyflakes" ]; then
  log "installing pycodestyle and pyflakes into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet pycodestyle pyflakes
fi
if [ ! -d "$corpus" ]; then
  stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
  log "copying the .py files of $stdlib to $corpus"
  mkdir -p "$corpus"
  (cd "$stdlib" && find . -name '*.py' -not -path './site-packages/*' -not -path './dist-packages/*' -print0 \
    | xargs -0 cp --parents -t "$corpus")
fi
files=$(find "$corpus" -name '*.py' | wc -l)
bytes=$(find "$corpus" -name '*.py' -printf '%s\n' | awk '{s+=$1} END {print s}')
mb=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')
log "corpus: $files files, $mb MB"

cargo build --quiet --release -p tandem-cli --bin tandem
tandem=$root/target/release/tandem
export TANDEM_AGENTS=$root/target/agents TANDEM_LOG=warn

# seconds COMMAND...: runs it, output discarded, and prints the wall time in seconds.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1 || true
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.2f", e - s}'
}
row() { # name seconds
  awk -v n="$1" -v s="$2" -v f="$files" -v b="$bytes" \
    'BEGIN {printf "| %-40s | %7.2f s | %8.1f files/s | %6.2f MB/s |\n", n, s, f / s, b / s / 1048576}'
}

# A first run compiles the components into the code cache; the timed runs below do not.
"$tandem" run linter --op rules > /dev/null
"$tandem" run security --op rules > /dev/null
grant="--dir=$corpus::corpus"
echo "| tool | time | files/s | MB/s |"
echo "| --- | --- | --- | --- |"
row "linter lint (in the sandbox)" "$(seconds "$tandem" run linter --op lint "$grant" --input '{"paths": ["corpus"]}' --raw)"
row "pycodestyle $("$venv/bin/pycodestyle" --version)" "$(seconds "$venv/bin/pycodestyle" "$corpus")"
row "pyflakes $("$venv/bin/pyflakes" --version | cut -d' ' -f1)" "$(seconds "$venv/bin/pyflakes" "$corpus")"
row "security scan-secrets (in the sandbox)" "$(seconds "$tandem" run security --op scan-secrets "$grant" --input '{"paths": ["corpus"]}' --raw)"
row "security scan-code (in the sandbox)" "$(seconds "$tandem" run security --op scan-code "$grant" --input '{"paths": ["corpus"]}' --raw)"

# CRYPTOEXPERT: the same hashing code (primitives::throughput, 256 MiB) inside the sandbox and
# natively, in this run.
echo
echo "| hash | in the sandbox | natively (same crates, release) | ratio |"
echo "| --- | --- | --- | --- |"
native=$(cargo test --quiet --release -p crypto-expert --lib -- --ignored throughput_natively --nocapture 2>/dev/null | grep '^native')
for algorithm in sha256 blake3; do
  sandbox=$("$tandem" run crypto-expert --op benchmark --input "{\"algorithm\": \"$algorithm\", \"megabytes\": 256}" --raw \
    | python3 -c 'import json, sys; print("%.1f" % json.load(sys.stdin)["mb-per-s"])')
  natively=$(echo "$native" | awk -v a="$algorithm" '$2 == a":" {print $3}')
  awk -v a="$algorithm" -v s="$sandbox" -v n="$natively" \
    'BEGIN {printf "| %s | %s MB/s | %s MB/s | %.2fx |\n", a, s, n, s / n}'
done
