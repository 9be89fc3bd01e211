#!/usr/bin/env bash
# Starts kilnd on a scratch root, talks to it with kilnctl, and stops it again.
# Run after `npm run build` (the README's first command does both).
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$(mktemp -d /tmp/kiln-demo.XXXXXX)
addr="unix://$demo/kilnd.sock"
node dist/daemon/main.js --addr "$addr" --root "$demo/root" 2> "$demo/kilnd.log" &
kilnd=$!
trap 'kill $kilnd 2>/dev/null; wait $kilnd 2>/dev/null; rm -rf "$demo"' EXIT
for _ in $(seq 100); do [ -S "$demo/kilnd.sock" ] && break; sleep 0.05; done
node dist/client/main.js --addr "$addr" debug workers -v
node dist/client/main.js --addr "$addr" debug info
