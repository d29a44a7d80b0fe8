#!/usr/bin/env bash
# Installs everything the test suite needs (Python packages in ./.venv; Dovecot, Chromium and systemd-analyze when
# missing and root; starts the local PostgreSQL cluster when it is installed but stopped), checks the import
# layers, then runs the suite.
# Arguments go to pytest. PYTHON and VENV choose another interpreter and its environment (scripts/venv.sh);
# scripts/test-pythons.sh runs the suite on the other supported versions.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/sbin/dovecot ] && ! command -v dovecot >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing dovecot-imapd (the IMAP tests start a private instance; the system service is not used)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd >/dev/null
  else
    echo "warning: Dovecot is missing (apt-get install dovecot-imapd); IMAP tests will skip outside CI" >&2
  fi
fi
# The export tests read the PDF timelines with pdftotext (poppler-utils), set in DejaVu Sans with Droid Sans
# Fallback for Chinese, Japanese and Korean names (hub.transfer.timeline); the test of the shipped systemd unit
# runs systemd-analyze verify (no service is started).
missing=()
command -v pdftotext >/dev/null || missing+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || missing+=(fonts-droid-fallback)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} (the export tests read the PDF timelines; the unit's test verifies it)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  else
    echo "warning: ${missing[*]} missing (apt-get install ${missing[*]}); the export tests will fail and the unit's test will skip outside CI" >&2
  fi
fi
# The weekly report's HTML is opened in Debian's Chromium, driven by Playwright (never Playwright's own browsers).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (the weekly report's test renders its HTML headless)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    echo "warning: chromium is missing (apt-get install chromium); the report's browser test will skip outside CI" >&2
  fi
fi
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ]; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  fi
fi
EXTRAS="[test]" source scripts/venv.sh
# The modules compiled before the suite starts its hub processes, beside the sources as Python keeps them: where a
# machine sets PYTHONDONTWRITEBYTECODE, each process would compile the hub's again (a quarter of a second a start).
"$VENV/bin/python" -m compileall -qq hub tests || true  # a module that does not compile is for pytest to report
# The layers import one way (pyproject.toml's [tool.importlinter]): a wrong-way import fails here.
"$VENV/bin/lint-imports" --no-cache
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
