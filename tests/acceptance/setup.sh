#!/usr/bin/env bash
# Installs the SDK environments the acceptance scenarios run with, only from this directory's
# own files and never into Mecha's venv:
#   Python SDK -> tests/acceptance/.venv          (python/requirements.txt, every package pinned)
#   JS SDK     -> tests/acceptance/js/node_modules (js/package.json + js/package-lock.json, npm ci)
# Each is skipped when a stamp of its inputs (and of the interpreter's version) is unchanged.
#
# Usage: setup.sh [PYTHON]   PYTHON is the interpreter the venv is made from (default: python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${1:-python3}"

fingerprint() { sha256sum | cut -d' ' -f1; }

venv="$here/.venv"
python_stamp="$({ cat "$here/python/requirements.txt"; "$python" -c 'import sys; print(sys.version)'; } | fingerprint)"
if [[ "$(cat "$venv/.setup-stamp" 2>/dev/null)" != "$python_stamp" ]]; then
  echo "acceptance setup: installing the Python SDK into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # --no-deps: the requirements list every package, so nothing unpinned slips in; pip check
  # then proves the list complete.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r "$here/python/requirements.txt"
  "$venv/bin/python" -m pip check --disable-pip-version-check
  echo "$python_stamp" >"$venv/.setup-stamp"
fi

js="$here/js"
command -v node >/dev/null || { echo "acceptance setup: node is not installed" >&2; exit 1; }
js_stamp="$({ cat "$js/package.json" "$js/package-lock.json"; node --version; } | fingerprint)"
if [[ "$(cat "$js/node_modules/.setup-stamp" 2>/dev/null)" != "$js_stamp" ]]; then
  echo "acceptance setup: installing the JS SDK into $js/node_modules"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$js_stamp" >"$js/node_modules/.setup-stamp"
fi
