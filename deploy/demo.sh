#!/usr/bin/env bash
# Ombud in one command and one terminal: the central server runs in the
# background and a kiosk, enrolled with it, runs in the foreground. Both use
# embedded SQLite under demo-data/ (override with OMBUD_DEMO_DATA). Ctrl-Q
# stops the kiosk here (--allow-quit; a branch kiosk has no quit key) and the
# server stops with it. F2 on the kiosk shows staff the sync state.
#
# The server routes complaints with deploy/dispatch.example.json, dates them
# with deploy/sla.example.json (office hours in Paris) and escalates overdue
# ones to the "escalations" team. The dispatch rules may be edited while it
# runs (re-read within seconds); the SLA config is read at start. Each
# complaint's tracking page is at http://127.0.0.1:8080/t/<code> by default
# (the receipt's QR code), or type the code at http://127.0.0.1:8080/t.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${OMBUD_DEMO_DATA:-demo-data}
listen=${OMBUD_DEMO_LISTEN:-127.0.0.1:8080}
branch=${OMBUD_DEMO_BRANCH:-main}
branch_name=${OMBUD_DEMO_BRANCH_NAME:-Main Street}
url="http://$listen"
# The SLA calendar's zone, so the receipt and the tracking page show the
# dates the SLA config gives (8 h of office hours = 1 day, 80 h = 10 days).
timezone=${OMBUD_DEMO_TIMEZONE:-Europe/Paris}

mkdir -p "$data/bin"
echo "Building the server and the kiosk..."
go build -o "$data/bin/server" ./server
go build -o "$data/bin/kiosk" ./kiosk

: >"$data/server.log"
"$data/bin/server" serve --data "$data/server" --listen "$listen" --public-url "$url" \
  --dispatch-config deploy/dispatch.example.json --sla-config deploy/sla.example.json \
  --escalation-queue team:escalations --timezone "$timezone" 2>>"$data/server.log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

# The server logs "listening" once its port is open.
for _ in $(seq 1 200); do
  grep -q '"msg":"listening"' "$data/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || { echo "The server did not start:"; cat "$data/server.log"; exit 1; }
  sleep 0.05
done
grep -q '"msg":"listening"' "$data/server.log" || { echo "The server did not start in 10 s:"; cat "$data/server.log"; exit 1; }

if [ ! -f "$data/kiosk/credential.json" ]; then
  echo "Enrolling the kiosk with branch $branch..."
  "$data/bin/server" branch add --data "$data/server" --id "$branch" --name "$branch_name" >/dev/null 2>&1 || true
  code=$("$data/bin/server" enrol-code --data "$data/server" --branch "$branch" | awk 'NR==3 {print $1}')
  "$data/bin/kiosk" enrol --data "$data/kiosk" --server "$url" --code "$code" --name "demo kiosk"
fi

"$data/bin/kiosk" --data "$data/kiosk" --printer "file:$data/receipts" --public-url "$url" --allow-quit \
  --timezone "$timezone" --ack-days 1 --respond-days 10 "$@" || true

echo
echo "Kiosk stopped. What the server holds:"
"$data/bin/server" devices --data "$data/server" || true
echo "Kiosk sync state:"
"$data/bin/kiosk" status --data "$data/kiosk" || true
echo "Receipts printed to $data/receipts; server log in $data/server.log."
echo "Tracking pages were at $url/t/<code> (or $url/t to type a code); run this again to see them."
