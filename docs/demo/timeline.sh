#!/usr/bin/env bash
# Makes docs/images/timeline.svg: incident.yaml applied with --watch against a sandbox kept
# running, its conference ended after 14 s, the run completed from the API, then drawn.
set -euo pipefail
cd "$(dirname "$0")"
state=$(mktemp -d)
orchestrator sandbox --scenario scenario.yaml --port 8799 --token demo-key \
  --account-sid demo-account >"$state/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox' EXIT
sleep 2
export TELNYX_BASE_URL=http://127.0.0.1:8799/v2 TELNYX_API_KEY=demo-key
export TELNYX_ACCOUNT_SID=demo-account ORCHESTRATOR_STATE_DIR="$state"
orchestrator apply incident.yaml --watch --interval 0.5 -q >/dev/null &
watch=$!
sleep 14
orchestrator down incident.yaml --end-conference --yes >/dev/null
wait "$watch" || true  # 3: the voicemail did not converge
run=$(orchestrator history -o json | python3 -c \
  'import json, sys; print([r["id"] for r in json.load(sys.stdin)["runs"] if r["command"] == "apply"][0])')
orchestrator history "$run" --fetch -o svg --out ../images/timeline.svg
orchestrator history "$run" -o html --out "$state/run.html"
echo "the run: $state/runs/$run; its page: $state/run.html"
