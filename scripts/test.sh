#!/usr/bin/env bash
# The one test command (README): builds everything and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --all-targets
cargo test --lib --bins --tests
