#!/usr/bin/env bash
# Installs casework-hub in ./.venv, makes a demo office (SQLite + a Maildir inbox seeded with demo
# messages) in ./office (or $1), runs one full cycle and prints the cases it made.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="" source scripts/venv.sh
OFFICE=${1:-office}
if [ -e "$OFFICE/config/hub.toml" ]; then
  echo "$OFFICE already holds an office; give another folder: bash scripts/demo.sh /tmp/demo-office" >&2
  exit 1
fi
.venv/bin/hub init --demo "$OFFICE"
.venv/bin/hub --config "$OFFICE/config/hub.toml" run --once
echo
echo "All cases (.venv/bin/hub --config $OFFICE/config/hub.toml cases):"
.venv/bin/hub --config "$OFFICE/config/hub.toml" cases
