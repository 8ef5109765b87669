#!/usr/bin/env bash
# The one test command (README): installs what the tests need, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The dashboard and line-shell tests drive a real terminal through tmux.
if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing tmux"
    apt-get update -qq && apt-get install -y -qq tmux >/dev/null
  else
    echo "warning: tmux is missing; terminal tests will say they skip" >&2
  fi
fi

# The stack tests (tests/it/health.rs) run a TCP listener that opens late in python3, as
# configs/stack.toml does.
if ! command -v python3 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing python3"
    apt-get update -qq && apt-get install -y -qq python3-minimal >/dev/null
  else
    echo "warning: python3 is missing; a health-check test will fail" >&2
  fi
fi

# `taskmaster man` is checked by rendering it (tests/it/cli.rs); groff does that.
if ! command -v groff >/dev/null 2>&1 && ! command -v man >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing groff"
    apt-get update -qq && apt-get install -y -qq groff-base >/dev/null
  else
    echo "warning: neither man nor groff; the man page test will say it skips" >&2
  fi
fi

cargo build --all-targets
cargo test --lib --bins --tests
