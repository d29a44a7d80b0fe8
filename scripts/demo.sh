#!/usr/bin/env bash
# Installs casework-hub in ./.venv, makes a demo office (SQLite + a Maildir inbox seeded with demo
# messages) in ./office (or $1), runs one full cycle, prints the cases it made and the
# acknowledgements it sent (into the office's sent Maildir, the embedded default's outbound).
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
echo
echo "Acknowledgements sent (in $OFFICE/var/sent/new):"
.venv/bin/python - "$OFFICE/var/sent/new" <<'PY'
import sys
from email import message_from_bytes, policy
from pathlib import Path

for path in sorted(Path(sys.argv[1]).iterdir()):
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    if message["Auto-Submitted"] == "auto-replied":
        print(f"\n  To: {message['To']}\n  Subject: {str(message['Subject']).strip()}")
        body = message.get_content().strip().splitlines()
        print("".join(f"  | {line}\n" for line in body[:6]) + "  | …")
PY
