#!/usr/bin/env bash
# Seeds a libFuzzer corpus with the shipped files, each behind its kind byte (see README.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: seed_corpus.sh CORPUS_DIR}"
mkdir -p "$out"
seed() {  # kind byte (octal), files
  local kind="$1"; shift
  for f in "$@"; do printf "\\$kind" | cat - "$f" > "$out/$kind-$(basename "$f")"; done
}
seed 000 "$root"/models/*.json
for f in "$root"/tests/hf/*/config.json; do printf '\000' | cat - "$f" > "$out/000-hf-$(basename "$(dirname "$f")").json"; done
seed 001 "$root"/hardware/*.json
seed 002 "$root"/scenarios/*.json
seed 003 "$root"/hardware/calibrated/*.json
