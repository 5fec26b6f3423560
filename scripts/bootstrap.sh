#!/usr/bin/env bash
# Prepare a fresh machine: redis-server (from apt when missing) and .venv, a Python >= 3.12
# virtualenv with the pinned runtime and dev packages. Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; return 1
  fi
}

ensure_redis() {
  # redis-server and redis-cli for every Redis the tests start; openssl for the TLS one
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    && command -v openssl >/dev/null; then return; fi
  if ! command -v apt-get >/dev/null; then
    say "redis-server is missing and there is no apt-get: install Redis 7 (redis-server, redis-cli) yourself"
    return 1
  fi
  say "installing redis-server from apt"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools openssl >/dev/null
  # Debian starts the packaged service; the tests and the demo start their own servers.
  as_root systemctl disable --now redis-server >/dev/null 2>&1 || true
}

find_python() {
  local candidate version
  for candidate in "${PYTHON:-}" python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate"; return
    fi
  done
  if command -v pyenv >/dev/null; then
    version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.[0-9]+)?$' | head -n 1 || true)
    if [ -n "$version" ]; then echo "$(pyenv root)/versions/$version/bin/python3"; return; fi
  fi
  say "no Python 3.12 or newer found (the Lambda runtime is python3.12): install one, or set PYTHON=/path/to/python3.12"
  return 1
}

ensure_venv() {
  local stamp=.venv/.installed
  local want
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
  if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  if [ ! -x .venv/bin/python ]; then
    local python
    python=$(find_python)
    say "creating .venv with $("$python" --version)"
    "$python" -m venv .venv
  fi
  say "installing pinned packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
}

ensure_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then return; fi
  say "installing nodejs and npm from apt (for the Serverless Framework)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
}

ensure_redis
ensure_venv
if [ "${1:-}" = "--deploy-tools" ]; then
  ensure_node
  if [ ! -x node_modules/.bin/serverless ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing the pinned Serverless Framework (npm ci)"
    npm ci --no-progress --no-fund --no-audit >/dev/null
  fi
fi
