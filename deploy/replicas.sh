#!/usr/bin/env bash
# Two server replicas on one PostgreSQL database: the replicated set-up on
# the PostgreSQL this machine has (by default 127.0.0.1:5432, user postgres,
# trust auth, database test, schema ombud_replicas; set OMBUD_REPLICAS_DB to
# another postgres:// URL). Replica A listens on 127.0.0.1:8080, replica B on
# 127.0.0.1:8081; any device may use either, and an event stored through one
# reaches the devices on the other. One of them runs the case engine and the
# outbound queues (its /readyz says "leader":true); kill it and the other
# takes over within --lease-retry.
#
# It creates branch main, prints an enrolment code, and runs until Ctrl-C,
# which stops both. Logs: demo-data/replica-a.log, demo-data/replica-b.log.
# A kiosk against replica B, in another terminal:
#   go run ./kiosk enrol --data demo-data/kiosk-b --server http://127.0.0.1:8081 --code CODE
#   go run ./kiosk --data demo-data/kiosk-b
set -euo pipefail
cd "$(dirname "$0")/.."

data=${OMBUD_DEMO_DATA:-demo-data}
schema=${OMBUD_REPLICAS_SCHEMA:-ombud_replicas}
db=${OMBUD_REPLICAS_DB:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$schema}

mkdir -p "$data/bin"
echo "Building the server..."
go build -o "$data/bin/server" ./server

# The schema must exist before the server migrates into it; psql makes it
# when the URL is this script's default.
if [ -z "${OMBUD_REPLICAS_DB:-}" ]; then
  if ! command -v psql >/dev/null; then
    echo "psql is needed to create schema $schema (or set OMBUD_REPLICAS_DB to a database the server may migrate)" >&2
    exit 1
  fi
  psql "postgres://postgres@127.0.0.1:5432/test?sslmode=disable" -qc "CREATE SCHEMA IF NOT EXISTS $schema"
fi

"$data/bin/server" migrate --db "$db"
"$data/bin/server" branch add --db "$db" --id main --name "Main Street" >/dev/null 2>&1 || true

pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

for r in a:8080 b:8081; do
  name=${r%%:*} port=${r##*:}
  "$data/bin/server" serve --db "$db" --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
    --dispatch-config deploy/dispatch.example.json --sla-config deploy/sla.example.json \
    --escalation-queue team:escalations --timezone Europe/Paris \
    2>"$data/replica-$name.log" &
  pids+=("$!")
done

for port in 8080 8081; do
  for _ in $(seq 100); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  echo "replica on :$port /readyz: $(curl -sS "http://127.0.0.1:$port/readyz")"
done

echo
echo "Enrolment code for a staff terminal (use it against either replica):"
"$data/bin/server" enrol-code --db "$db" --branch main --role staff --public-url http://127.0.0.1:8081
echo
echo "Both replicas run; Ctrl-C stops them."
wait
