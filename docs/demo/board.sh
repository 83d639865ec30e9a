#!/usr/bin/env bash
# Makes docs/images/board.png and docs/images/inspector.png: docs/watch.md's walk-through run
# against the sandbox (drill.yaml: sre-2 drops once and is redialed; a typo is refused), its
# board and the sandbox's inspector photographed in headless Chromium once the redial has
# connected. Needs Playwright for Python and Debian's chromium-headless-shell.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
cp incident-4711.yaml "$work/"
orchestrator sandbox --scenario drill.yaml --port 8798 --token demo-key \
  --account-sid demo-account >"$work/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox' EXIT
sleep 2
public_key=$(grep -o 'TELNYX_PUBLIC_KEY=[^ ]*' "$work/sandbox.log" | cut -d= -f2-)
export TELNYX_BASE_URL=http://127.0.0.1:8798/v2 TELNYX_API_KEY=demo-key
export TELNYX_ACCOUNT_SID=demo-account TELNYX_PUBLIC_KEY="$public_key"
export ORCHESTRATOR_STATE_DIR="$work/state"
(cd "$work" && exec orchestrator apply incident-4711.yaml --watch --prune --yes \
  --listen 127.0.0.1:9100 --board 127.0.0.1:9100 >"$work/summary.txt" 2>"$work/watch.log") &
watch=$!
python3 screenshots.py "$work" "http://127.0.0.1:8798/_sandbox/?key=demo-key"
kill -TERM "$watch"
wait "$watch" || true
cat "$work/summary.txt"
echo "the watch's log: $work/watch.log"
