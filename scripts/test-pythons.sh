#!/usr/bin/env bash
# Runs the suite on the other supported Pythons (3.12 and 3.13; scripts/test.sh runs it on python3), side by side:
# each version gets its own environment (.venv-3.12, .venv-3.13), made one after the other (pip builds the project
# in the source folder), then the suites run at once, each with a temporary folder of its own under /tmp, and each
# version's output goes to .test-logs/python-X.Y.log; the last lines of each are printed at the end.
# An interpreter is python3.X on PATH, else pyenv's newest 3.X, else /usr/bin/python3.X; a version not found
# is reported and left out (REQUIRE_PYTHONS=1 makes that a failure).
# Usage: bash scripts/test-pythons.sh [pytest arguments]   (PYTHONS="3.12 3.13" chooses the versions)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONS=${PYTHONS:-"3.12 3.13"}

find_python() {
  local version=$1 candidate
  if command -v "python$version" >/dev/null && "python$version" -c '' 2>/dev/null; then
    command -v "python$version"
    return
  fi
  if command -v pyenv >/dev/null; then
    for candidate in $(ls -d "$(pyenv root)/versions/$version".* 2>/dev/null | sort -V -r); do
      if [ -x "$candidate/bin/python$version" ]; then
        echo "$candidate/bin/python$version"
        return
      fi
    done
  fi
  if [ -x "/usr/bin/python$version" ]; then
    echo "/usr/bin/python$version"
  fi
}

mkdir -p .test-logs
found=()
for version in $PYTHONS; do
  python=$(find_python "$version")
  if [ -z "$python" ]; then
    echo "Python $version not found (python$version on PATH, pyenv or /usr/bin): its suite is left out" >&2
    if [ "${REQUIRE_PYTHONS:-0}" = 1 ]; then
      exit 1
    fi
    continue
  fi
  echo "Python $version: $python ($("$python" --version 2>&1)); installing into .venv-$version"
  PYTHON=$python VENV=.venv-$version EXTRAS="[test]" bash -c 'source scripts/venv.sh'
  found+=("$version")
done

declare -A pids folders
for version in "${found[@]}"; do
  echo "Python $version: running the suite (log: .test-logs/python-$version.log)"
  # A short folder under /tmp: the servers' Unix sockets live in the tests' folders (108 bytes at most).
  basetemp=$(mktemp -d "/tmp/hub-tests-$version-XXXX")
  ".venv-$version/bin/python" -m compileall -qq hub tests || true  # as scripts/test.sh does
  ".venv-$version/bin/python" -m pytest --basetemp="$basetemp" "$@" \
    >".test-logs/python-$version.log" 2>&1 &
  pids[$version]=$!
  folders[$version]=$basetemp
done

failed=()
for version in "${found[@]}"; do
  set +e
  wait "${pids[$version]}"
  status=$?
  set -e
  echo "--- Python $version: pytest exit $status; the log's last lines:"
  tail -n 15 ".test-logs/python-$version.log"
  rm -rf "${folders[$version]}"
  # 5: pytest collected nothing, which is a failure here too.
  [ "$status" = 0 ] || failed+=("$version")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "the suite failed on Python ${failed[*]}" >&2
  exit 1
fi
