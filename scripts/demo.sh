#!/usr/bin/env bash
# The main demo: the stockade reference monitor deciding real requests.
set -uo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/stockade
say() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }
run() { say "$1" "stockade ${*:2}"; $S "${@:2}"; echo "(exit $?)"; }

run "DAC: nobody may not read /etc/shadow" explain --as nobody read /etc/shadow
run "DAC: an allowed read" explain --as nobody read /etc/hostname
exit 0
