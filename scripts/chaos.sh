#!/usr/bin/env bash
# The heavy chaos tests (`#[ignore]`d in the normal suite for their minutes): issue 13's
# 10,000 SIGKILLs over 50 processes. Called by .ci/run after scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --test it chaos_kill::ten_thousand -- --ignored --nocapture
