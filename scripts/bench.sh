#!/usr/bin/env bash
# The benchmark suite (docs/performance.md): taskmaster's release binary against supervisord.
# `cargo bench` builds the release binary itself; the bench makes target/bench-venv (python3
# -m venv + pip install supervisor) on first use, and skips supervisord, saying so, when that
# cannot be done. Extra arguments go to the bench: --only SCENARIO[,..] --repeat N
# --json FILE --list.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tmux >/dev/null 2>&1; then
  echo "note: tmux is missing; the dashboard scenario will say it skips" >&2
fi
exec cargo bench --bench compare -- --compare supervisord "$@"
