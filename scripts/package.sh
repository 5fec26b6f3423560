#!/usr/bin/env bash
# Build the deployable zip and CloudFormation template offline: no AWS account, no Docker.
#   scripts/package.sh STAGE ARCH OUT [SERVERLESS ARGS]   e.g. scripts/package.sh dev arm64 dist/dev
# ARCH is arm64 (what `serverless deploy` ships) or x86_64 (to run the zip on an x86 machine);
# further arguments go to `serverless package` (--param="network=vpc", --region eu-central-1).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?stage} arch=${2:?arm64|x86_64} out=${3:?output dir}
shift 3
case "$arch" in
  arm64) wheels=aarch64 ;;
  x86_64) wheels=x86_64 ;;
  *) echo "architecture must be arm64 or x86_64, not $arch" >&2; exit 2 ;;
esac
PATH=${LAMBDAGRAM_NODE_DIR:-$PWD/.tools/node}/bin:$PATH  # scripts/bootstrap.sh's Node.js, if it made one
[ -x node_modules/.bin/serverless ] || npm ci --no-progress --no-fund --no-audit >&2
# Skip the build when nothing that goes into it changed since the last one in "$out".
inputs=$(
  { echo "$stage $arch ${PYTHON_BIN:-} ${AWS_REGION:-} $*"; find handler.py bot $(ls -d lambdagram wheels 2>/dev/null) requirements.txt serverless.yml \
      infra/serverless package-lock.json scripts/package.sh scripts/compile_pyc.py -type f \
      ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort | xargs -d '\n' sha256sum
  } | sha256sum | cut -c1-32
)
if [ -f "$out/lambdagram.zip" ] && [ "$(cat "$out/.inputs" 2>/dev/null)" = "$inputs" ]; then
  echo "$out is up to date (same inputs as its last build)" >&2
  echo "$out/lambdagram.zip"; exit 0
fi
rm -rf "$out"
# The runtime is the packaging Python's version (python3.12 or python3.13): the zip's bytecode
# is that version's.
python=${PYTHON_BIN:-$PWD/.venv/bin/python}
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# Packaging resolves no AWS values; dummy credentials keep the framework offline.
AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-offline-packaging} \
AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-offline-packaging} \
AWS_REGION=${AWS_REGION:-eu-west-1} \
PYTHON_BIN=${PYTHON_BIN:-$PWD/.venv/bin/python} \
SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off \
  node_modules/.bin/serverless package --stage "$stage" \
    --param="architecture=$arch" --param="wheelPlatform=$wheels" --param="pythonVersion=$pyver" \
    --package "$out" "$@" >&2
# Bytecode that a read-only /var/task can use (scripts/compile_pyc.py says why).
"${PYTHON_BIN:-$PWD/.venv/bin/python}" scripts/compile_pyc.py "$out/lambdagram.zip"
echo "$inputs" > "$out/.inputs"
echo "$out/lambdagram.zip"
