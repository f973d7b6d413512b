#!/usr/bin/env bash
# `make run`: start the fake Nexon upstream and the service in standalone mode (SQLite +
# in-process coordination) with demo characters, print three names to try, and run until Ctrl-C.
#
#   HTTP_PORT=8080 (service port)   DEMO_DIR=./var/demo (database, logs)
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-build/release}
PORT=${HTTP_PORT:-8080}
DEMO_DIR=${DEMO_DIR:-./var/demo}
mkdir -p "$DEMO_DIR"

fake_pid="" svc_pid=""
cleanup() {
  [[ -n "$svc_pid" ]] && kill -TERM "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null || true
  [[ -n "$fake_pid" ]] && kill -TERM "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# The fake upstream picks a free port and announces it on its first line.
"$BIN/fake-nexon" --port 0 >"$DEMO_DIR/fake-nexon.log" 2>&1 &
fake_pid=$!
fake_port=""
for _ in $(seq 1 100); do
  fake_port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$DEMO_DIR/fake-nexon.log" | head -n1)
  [[ -n "$fake_port" ]] && break
  kill -0 "$fake_pid" 2>/dev/null || { cat "$DEMO_DIR/fake-nexon.log" >&2; exit 1; }
  sleep 0.05
done
[[ -n "$fake_port" ]] || { echo "demo: the fake upstream did not start" >&2; exit 1; }

NEXON_API_BASE_URL="http://127.0.0.1:$fake_port" NEXON_API_KEY=demo-nexon-key \
  SQLITE_PATH="$DEMO_DIR/maplexp.db" HTTP_PORT="$PORT" \
  "$BIN/maplexp" serve >"$DEMO_DIR/maplexp.log" 2>&1 &
svc_pid=$!
for _ in $(seq 1 200); do
  grep -q '"op":"ready"' "$DEMO_DIR/maplexp.log" 2>/dev/null && break
  kill -0 "$svc_pid" 2>/dev/null || { echo "demo: the service did not start:" >&2; tail -n 5 "$DEMO_DIR/maplexp.log" >&2; exit 1; }
  sleep 0.05
done

names=$(curl -s "http://127.0.0.1:$fake_port/admin/characters" |
  /usr/bin/python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["characters"][:3]))')
cat <<MSG

MapleExpectation is running on http://127.0.0.1:$PORT (standalone: SQLite $DEMO_DIR/maplexp.db,
fake Nexon upstream on port $fake_port). Characters to try:

MSG
while IFS= read -r n; do
  enc=$(/usr/bin/python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$n")
  echo "  $n"
  echo "    curl -s http://127.0.0.1:$PORT/api/v4/characters/$enc/expectation"
done <<<"$names"
cat <<MSG

Also: /api/v1/characters/NAME, /api/v4/characters/NAME/expectation/preset/1, /actuator/health,
/actuator/prometheus. Logs: $DEMO_DIR/maplexp.log. Ctrl-C stops both processes.
MSG
wait "$svc_pid"
