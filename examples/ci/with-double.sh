#!/usr/bin/env bash
# Run a command against the doubles of a socketdouble file; fail when the doubles saw a
# request they did not expect (or an expected one never came), with the report saying which.
#
#   examples/ci/with-double.sh examples/ci/cache.toml examples/ci/app.sh
#
# While COMMAND runs, each double NAME is at SD_<NAME>_HOST and SD_<NAME>_PORT (a Unix
# double: SD_<NAME>_PATH), and SD_READY_FILE holds socketdouble's ready line (JSON).
# Exit status: socketdouble's when a check failed (1) or it could not start (2), else
# COMMAND's. Environment: SOCKETDOUBLE (default "socketdouble", e.g. "python3 -m
# socketdouble"), PYTHON (default "python3", reads the ready line), SD_RECORD_DIR (keep
# each double's recording there as a cassette: `socketdouble show DIR/NAME.json`).
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 DOUBLES_FILE COMMAND [ARGS...]" >&2
  exit 2
fi
doubles=$1
shift
read -r -a socketdouble <<< "${SOCKETDOUBLE:-socketdouble}"
python=${PYTHON:-python3}

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
export SD_READY_FILE=$workdir/ready.json
record=()
if [ -n "${SD_RECORD_DIR:-}" ]; then
  record=(--record-dir "$SD_RECORD_DIR")
fi

"${socketdouble[@]}" serve "$doubles" --ready-file "$SD_READY_FILE" "${record[@]}" > "$workdir/out" &
serve=$!

# Wait (10 s at most) for the ready file, which appears whole once every double listens.
for _ in $(seq 200); do
  [ -s "$SD_READY_FILE" ] && break
  if ! kill -0 "$serve" 2>/dev/null; then
    status=0
    wait "$serve" || status=$?
    exit "$status"  # it could not start: its error is on stderr already
  fi
  sleep 0.05
done
if [ ! -s "$SD_READY_FILE" ]; then
  echo "with-double: socketdouble did not become ready within 10 s" >&2
  kill -TERM "$serve"
  wait "$serve" || true
  exit 2
fi

# SD_<NAME>_HOST, SD_<NAME>_PORT or SD_<NAME>_PATH for every double, quoted for the shell.
eval "$("$python" - "$SD_READY_FILE" <<'PY'
import json, re, shlex, sys

for name, server in json.load(open(sys.argv[1]))["servers"].items():
    prefix = "SD_" + re.sub(r"\W", "_", name).upper()
    address = server["address"]
    if isinstance(address, list):
        print(f"export {prefix}_HOST={shlex.quote(address[0])} {prefix}_PORT={address[1]}")
    else:
        print(f"export {prefix}_PATH={shlex.quote(address)}")
PY
)"

command_status=0
"$@" || command_status=$?

kill -TERM "$serve"
serve_status=0
wait "$serve" || serve_status=$?
tail -n +2 "$workdir/out"  # the check report (the first line is the ready line)

if [ "$serve_status" -ne 0 ]; then
  exit "$serve_status"
fi
exit "$command_status"
