#!/usr/bin/env bash
# Builds examples/hello (a multi-stage Dockerfile) with kilnd and kilnctl, end to end.
# Run after `npm run build` (the README's first command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node scripts/demo.mjs
