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
#
# `bash deploy/demo.sh staff`, in a second terminal, runs a staff terminal
# against the same server (started here if it is not running yet): it is
# enrolled on first use, and two demo accounts are made: "demo" (agent,
# PIN 482913) and "boss" (supervisor, PIN 735102).
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

mode=kiosk
if [ "${1:-}" = staff ]; then
  mode=staff
  shift
fi

mkdir -p "$data/bin"
# build NAME compiles one program, saying every few seconds that it is still
# at it: the first build compiles SQLite and takes minutes.
build() {
  go build -o "$data/bin/$1" "./$1" &
  local pid=$! waited=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    waited=$((waited + 1))
    if [ $((waited % 5)) -eq 0 ]; then
      printf '\r  still compiling the %s: %d s (the first build takes a few minutes)' "$1" "$waited"
    fi
  done
  [ "$waited" -ge 5 ] && printf '\n'
  wait "$pid"
}
echo "Building the server and the kiosk..."
build server
build kiosk

"$data/bin/server" branch add --data "$data/server" --id "$branch" --name "$branch_name" >/dev/null 2>&1 || true

# enrol DIR NAME ROLE enrols a device of the branch once, as a kiosk or a
# staff terminal (its credential stays in DIR). A demo directory from before
# device roles existed holds a staff terminal the upgrade made a kiosk: say
# what it is again.
enrol() {
  if [ ! -f "$1/credential.json" ]; then
    echo "Enrolling $2 with branch $branch..."
    code=$("$data/bin/server" enrol-code --data "$data/server" --branch "$branch" --role "$3" | awk 'NR==3 {print $1}')
    "$data/bin/kiosk" enrol --data "$1" --server "$url" --code "$code" --name "$2"
  elif [ "$3" = staff ]; then
    id=$(sed -n 's/.*"device_id": *"\([^"]*\)".*/\1/p' "$1/credential.json" | head -n 1)
    [ -n "$id" ] && "$data/bin/server" device role --data "$data/server" --device "$id" --role staff >/dev/null
  fi
}

# Reuse a server already listening (the other terminal's demo), else start one.
if (exec 3<>"/dev/tcp/${listen%:*}/${listen##*:}") 2>/dev/null; then
  echo "Using the server already running at $url."
else
  # The log is kept across runs; this run's lines start after the marker.
  touch "$data/server.log"
  from=$(($(wc -l <"$data/server.log") + 1))
  echo "{\"msg\":\"demo.sh started the server\",\"time\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}" >>"$data/server.log"
  "$data/bin/server" serve --data "$data/server" --listen "$listen" --public-url "$url" \
    --dispatch-config deploy/dispatch.example.json --sla-config deploy/sla.example.json \
    --escalation-queue team:escalations --timezone "$timezone" 2>>"$data/server.log" &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

  # The server logs "listening" once its port is open.
  this_run() { tail -n "+$from" "$data/server.log"; }
  for _ in $(seq 1 200); do
    this_run | grep -q '"msg":"listening"' && break
    kill -0 "$server_pid" 2>/dev/null || { echo "The server did not start:"; this_run; exit 1; }
    sleep 0.05
  done
  this_run | grep -q '"msg":"listening"' || { echo "The server did not start in 10 s:"; this_run; exit 1; }
fi

if [ "$mode" = staff ]; then
  enrol "$data/staff" "demo staff terminal" staff
  if ! "$data/bin/server" staff list --data "$data/server" | grep -q '^demo '; then
    printf '482913\n' | "$data/bin/server" staff add --data "$data/server" --branch "$branch" --id demo --name "Dana Demo" --role agent >/dev/null
    printf '735102\n' | "$data/bin/server" staff add --data "$data/server" --branch "$branch" --id boss --name "Sam Supervisor" --role supervisor >/dev/null
  fi
  echo "Sign in as demo (PIN 482913), or boss (PIN 735102) to reopen cases. Ctrl-Q quits."
  "$data/bin/kiosk" staff --data "$data/staff" --printer "file:$data/receipts" --public-url "$url" \
    --timezone "$timezone" --directory-interval 5s "$@" || true
  echo "Staff terminal stopped. Its sync state:"
  TZ="$timezone" "$data/bin/kiosk" status --data "$data/staff" || true
  echo "What the server holds (times in $timezone):"
  TZ="$timezone" "$data/bin/server" cases --data "$data/server" --branch "$branch" || true
  exit 0
fi

enrol "$data/kiosk" "demo kiosk" kiosk

"$data/bin/kiosk" --data "$data/kiosk" --printer "file:$data/receipts" --public-url "$url" --allow-quit \
  --timezone "$timezone" "$@" || true

echo
echo "Kiosk stopped. What the server holds (times in $timezone, as on the screens):"
echo "Devices:"
TZ="$timezone" "$data/bin/server" devices --data "$data/server" || true
echo "Cases:"
TZ="$timezone" "$data/bin/server" cases --data "$data/server" || true
echo "Kiosk sync state (times in $timezone, as on the screens):"
TZ="$timezone" "$data/bin/kiosk" status --data "$data/kiosk" || true
echo "Receipts printed to $data/receipts; server log in $data/server.log."
echo "Tracking pages were at $url/t/<code> (or $url/t to type a code); run this again to see them."
