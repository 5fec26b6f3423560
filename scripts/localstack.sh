#!/usr/bin/env bash
# The LocalStack rehearsal: deploy the project with `serverless deploy --stage local` into
# LocalStack and talk to the deployed function through its Function URL.
#   scripts/localstack.sh up|deploy|send|down|status
# Two settings, found by themselves (or LAMBDAGRAM_LOCALSTACK=a|b):
#   a  Docker can pull images: LocalStack's and Redis's official images (infra/docker-compose.yml),
#      LocalStack's own Lambda init.
#   b  nothing but the package registries (these machines, air-gapped CI): LocalStack from PyPI in
#      its own venv, in host mode; the python3.12 runtime image built from Debian packages and
#      served by a local registry; our stand-in for LocalStack's Lambda init
#      (infra/localstack/lambda_init.py); redis-server on the host.
# In both, a fake Bot API runs on the host where the functions' containers reach it (unless
# BOT_TOKEN is a real token: then the function talks to Telegram). Everything built is cached in
# ~/.cache/lambdagram/localstack (LAMBDAGRAM_CACHE; outside the project, whose tree `serverless
# package` walks following symlinks, and a root file system's lead into /proc); everything
# started is recorded by PID in .tmp/localstack and stopped by `down`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${LAMBDAGRAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lambdagram}/localstack
RUN=$ROOT/.tmp/localstack
mkdir -p "$CACHE" "$RUN"
PY=$ROOT/.venv/bin/python
# LocalStack's licence: since March 2026 its Docker images and its calendar-versioned releases
# (localstack-core 2026.x) ask for an auth token; 4.13 (image 4.13, localstack-core 4.13.1) is
# the last that runs without one. Both settings stay on it (README "Rehearse locally").
LOCALSTACK_VERSION=${LOCALSTACK_VERSION:-4.13.1}
INIT_VERSION=v0.1.39-pre # the init release localstack-core 4.13.1 downloads
NETWORK=lambdagram-local
REGISTRY=127.0.0.1:5000
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])') # the runtime: .venv's
IMAGE_TAG=$PYVER-2  # -2: /var/lang/bin/python3 in every image (the Lambda init's interpreter)
RUNTIME_IMAGE=$REGISTRY/lambdagram/lambda-python:$IMAGE_TAG
ENDPOINT=http://localhost:4566
REDIS_PORT=6379
FAKE_API_PORT=8081
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1
export SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off
export PATH=$ROOT/.tools/node/bin:$PATH

say() { printf '[localstack] %s\n' "$*" >&2; }
http_ok() { # url: does it answer 2xx? (the project's Python: a fresh machine has no curl)
  "$PY" -c 'import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
except Exception:
    sys.exit(1)' "$1"
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() { # packages: from apt, its lists read first once (a fresh machine has none)
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

started() { # name: is the process recorded under this name alive? (root's too: no kill -0)
  [ -f "$RUN/$1.pid" ] && [ -d "/proc/$(cat "$RUN/$1.pid")" ]
}

start_bg() { # name command...: start in the background in a process group of its own (what
  # it starts, LocalStack's runtime say, is stopped with it); log and PID in .tmp/localstack
  local name=$1; shift
  setsid nohup "$@" > "$RUN/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
}

stop_bg() { # name: stop the process group started under this name (SIGKILL after 15 s)
  local pid
  pid=$(cat "$RUN/$1.pid")
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
}

wait_for() { # seconds description command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  die "$what did not come up within ${seconds}s (logs in $RUN)"
}

# ---- Docker ---------------------------------------------------------------------------------

ensure_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  if ! command -v dockerd >/dev/null; then
    say "installing Docker from apt (docker.io)"
    apt_install docker.io
  fi
  docker info >/dev/null 2>&1 && return
  say "starting dockerd (no iptables: the containers talk to the host only)"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  # the socket in this user's group: the docker client and LocalStack then need no sudo
  start_bg dockerd "${sudo[@]}" dockerd --iptables=false --ip-masq=false --group "$(id -gn)"
  wait_for 60 dockerd docker info
}

setting() { # a or b, decided once
  if [ -n "${LAMBDAGRAM_LOCALSTACK:-}" ]; then echo "$LAMBDAGRAM_LOCALSTACK"; return; fi
  if [ -f "$RUN/setting" ]; then cat "$RUN/setting"; return; fi
  local found=b
  if timeout 60 docker pull -q localstack/localstack:4.13 >/dev/null 2>&1; then found=a; fi
  echo "$found" > "$RUN/setting"
  echo "$found"
}

setting_if_known() { # the setting if asked for or found before (can-run pulls nothing)
  if [ -n "${LAMBDAGRAM_LOCALSTACK:-}" ]; then echo "$LAMBDAGRAM_LOCALSTACK"; return; fi
  cat "$RUN/setting" 2>/dev/null || true
}

gateway() { # the host's address on the functions' Docker network
  docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "$NETWORK"
}

# ---- setting b: everything from the package registries --------------------------------------

localstack_python() { # LocalStack's own Python: a 3.13, else a 3.12 (mended below), else nothing
  local python version
  if [ -n "${LOCALSTACK_PYTHON:-}" ]; then echo "$LOCALSTACK_PYTHON"; return 0; fi  # asked for
  for version in 3.13 3.12; do
    python=$(command -v "python$version" || true)
    if [ -z "$python" ] || ! "$python" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" 2>/dev/null; then
      python=$(pyenv root 2>/dev/null)/versions/$(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}" | head -n1)/bin/python3
    fi
    if [ -x "$python" ]; then echo "$python"; return 0; fi
  done
  return 0
}

mend_for_python312() {
  # LocalStack 4.13.1 has one line that only Python 3.13 can run: a signature annotated
  # `Lock | None`, evaluated at import, where 3.12's threading.Lock is a function, so every Lambda
  # function it creates ends in state Failed. Quote that annotation (the pinned release's exact
  # line, checked), so Ubuntu 24.04's python3.12 runs it; nothing else in it changes.
  local venv=$CACHE/venv file
  "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || return 0
  file=$(echo "$venv"/lib/python3.12/site-packages/localstack/packages/api.py)
  if grep -q 'install_lock: Lock | None = None' "$file" 2>/dev/null; then
    say "LocalStack on Python 3.12: quoting its one 3.13-only annotation ($file)"
    sed -i 's/install_lock: Lock | None = None/install_lock: "Lock | None" = None/' "$file"
    rm -f "$(dirname "$file")"/__pycache__/api.*.pyc
  fi
  "$venv/bin/python" -c 'import localstack.packages.api' >/dev/null 2>&1 \
    || { rm -rf "$venv"; die "LocalStack $LOCALSTACK_VERSION does not run on Python 3.12 here: install python3.13"; }
}

localstack_venv() {
  [ -x "$CACHE/venv/bin/localstack" ] && return
  local python
  python=$(localstack_python)
  [ -n "$python" ] || die "LocalStack $LOCALSTACK_VERSION needs Python 3.13 or 3.12: install python3"
  say "installing LocalStack $LOCALSTACK_VERSION from PyPI into $CACHE/venv with $("$python" --version) (about a minute)"
  rm -rf "$CACHE/venv"
  "$python" -m venv "$CACHE/venv" || die "cannot make a venv with $python: install python$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
  # The whole set, pinned and hashed (scripts/lock_localstack.py wrote it): nothing to resolve,
  # so pip cannot backtrack, and every file is checked.
  if [ "$LOCALSTACK_VERSION" = 4.13.1 ]; then
    "$CACHE/venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps \
      -r infra/localstack/requirements.txt || { rm -rf "$CACHE/venv"; die "LocalStack's install failed (above)"; }
  else # another release (with LOCALSTACK_AUTH_TOKEN): resolved afresh, as its own pins allow
    "$CACHE/venv/bin/pip" install -q --disable-pip-version-check "localstack-core[runtime]==$LOCALSTACK_VERSION" 'awscli<2' \
      || { rm -rf "$CACHE/venv"; die "LocalStack's install failed (above)"; }
  fi
  mend_for_python312
}

registry() {
  http_ok "http://$REGISTRY/v2/" && return
  command -v docker-registry >/dev/null || apt_install docker-registry
  mkdir -p "$CACHE/registry"
  printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n' \
    "$CACHE/registry" "$REGISTRY" > "$RUN/registry.yml"
  start_bg registry docker-registry serve "$RUN/registry.yml"
  wait_for 30 "the local image registry" http_ok "http://$REGISTRY/v2/"
}

apt_mirror() { # the mirror apt uses here for the distribution itself (deb822 or classic lists)
  local found
  found=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } \
    | sed -n 's/^URIs: *//p' | tr ' ' '\n' | grep -E 'debian|ubuntu' | grep -v security | head -n1 || true)
  [ -n "$found" ] || found=$( { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
    | sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' | grep -E 'debian|ubuntu' | grep -v security | head -n1 || true)
  echo "${found:-http://deb.debian.org/debian}"
}

debootstrap_root() { # dir suite mirror packages: a minimal root file system, made once
  local dir=$1 suite=$2 mirror=$3 packages=$4
  [ -f "$dir/.done" ] && return
  command -v debootstrap >/dev/null || apt_install debootstrap
  say "building a $suite root file system for the runtime image (once; a few minutes)"
  as_root rm -rf "$dir"
  as_root debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" > "$RUN/debootstrap.log" 2>&1 \
    || { as_root rm -rf "$dir"; die "debootstrap $suite from $mirror failed (its log: $RUN/debootstrap.log)"; }
  as_root touch "$dir/.done"  # root's, as debootstrap made it (device nodes and all)
}

runtime_image() {
  # python3.12 (or .13: the one .venv has) as AWS's image has it: awslambdaric and boto3 in
  # /var/runtime, /var/runtime/bootstrap as the entrypoint. LocalStack always pulls it, hence the
  # registry. The CPython is .venv's own: copied to /var/lang from a prefix of its own (pyenv's),
  # or, for the system's Python (a fresh Debian 13 or Ubuntu 24.04 has only that), the
  # distribution's own python3.X package in a root of the same distribution release.
  http_ok "http://$REGISTRY/v2/lambdagram/lambda-python/manifests/$IMAGE_TAG" && return
  local rootfs=$CACHE/rootfs-$PYVER python_prefix python
  python_prefix=$("$PY" -c 'import sys; print(sys.base_prefix)')
  [ -x "$python_prefix/bin/python$PYVER" ] || die "no CPython at '$python_prefix' (.venv's base)"
  if [ ! -f "$rootfs/.done" ]; then
    # root's files (a root file system has device nodes and root-owned files): as root
    as_root rm -rf "$rootfs"
    if [ "$python_prefix" = /usr ]; then
      local codename
      codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
      [ -n "$codename" ] || die "cannot tell this distribution's release (VERSION_CODENAME in /etc/os-release) for the runtime image"
      debootstrap_root "$CACHE/$codename-python$PYVER" "$codename" "$(apt_mirror)" "ca-certificates,python$PYVER"
      say "adding awslambdaric to the runtime image (the system's python$PYVER)"
      as_root cp -a "$CACHE/$codename-python$PYVER" "$rootfs"
      python=/usr/bin/python$PYVER
    else
      local mirror
      mirror=$(apt_mirror); case "$mirror" in *debian*) ;; *) mirror=http://deb.debian.org/debian ;; esac
      debootstrap_root "$CACHE/bookworm" bookworm "$mirror" \
        ca-certificates,libssl3,libffi8,libsqlite3-0,libreadline8,libncursesw6,libexpat1,libbz2-1.0,liblzma5,zlib1g
      say "adding python$PYVER (.venv's CPython) and awslambdaric to the runtime image"
      as_root cp -a "$CACHE/bookworm" "$rootfs"
      as_root mkdir -p "$rootfs/var/lang"
      (cd "$python_prefix" && tar --exclude="./lib/python$PYVER/test" --exclude="./lib/python$PYVER/site-packages/*" -cf - .) \
        | as_root tar -xf - -C "$rootfs/var/lang"
      python=/var/lang/bin/python$PYVER
    fi
    as_root rm -f "$rootfs/.done"
    local packages=$RUN/runtime-packages
    rm -rf "$packages"
    "$PY" -m pip install -q --disable-pip-version-check --target "$packages" \
      --only-binary=:all: awslambdaric==4.2.2 boto3
    rm -rf "$packages/bin"
    printf '%s\n' '#!/bin/sh' "export AWS_EXECUTION_ENV=AWS_Lambda_python$PYVER" \
      'export PYTHONPATH="/var/runtime${PYTHONPATH:+:$PYTHONPATH}"' \
      "exec $python -m awslambdaric \"\$_HANDLER\"" > "$packages/bootstrap"
    chmod 755 "$packages/bootstrap"
    as_root mkdir -p "$rootfs/var/runtime" "$rootfs/var/task"
    as_root cp -r "$packages/." "$rootfs/var/runtime/"
    rm -rf "$packages"
    echo "$python" | as_root tee "$rootfs/.python" >/dev/null
    as_root touch "$rootfs/.done"
  fi
  python=$(cat "$rootfs/.python")
  # /var/lang/bin/python3, as AWS's images have it: the Lambda init runs on it (with the
  # system's python3.X there is none, and the init's exec fails: LocalStack then reports the
  # container "not connected to target network")
  if [ ! -e "$rootfs/var/lang/bin/python3" ]; then
    as_root mkdir -p "$rootfs/var/lang/bin"
    as_root ln -sf "$python" "$rootfs/var/lang/bin/python3"
  fi
  say "importing the runtime image into the local registry"
  as_root tar -C "$rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'ENV TZ=:/etc/localtime' \
    --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin' \
    --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'WORKDIR /var/task' --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
    - "$RUNTIME_IMAGE" >/dev/null
  # a half-made image must not be cached: the runtime has to start in it
  docker run --rm -e PYTHONPATH=/var/runtime --entrypoint "$python" "$RUNTIME_IMAGE" -c "import awslambdaric" \
    || die "the runtime image does not run python$PYVER with awslambdaric (rm -rf $rootfs and retry)"
  docker push -q "$RUNTIME_IMAGE" >/dev/null
}

localstack_env() {
  export GATEWAY_LISTEN=0.0.0.0:4566 SERVICES=lambda,ssm,iam,s3,cloudformation,logs,sts,kms,sqs,scheduler \
    FILESYSTEM_ROOT=$CACHE/filesystem LOCALSTACK_VOLUME_DIR=$CACHE/volume DISABLE_EVENTS=1 \
    LAMBDA_DOCKER_NETWORK=$NETWORK SKIP_SSL_CERT_DOWNLOAD=1 \
    LAMBDA_RUNTIME_IMAGE_MAPPING="{\"python$PYVER\": \"$RUNTIME_IMAGE\"}"
}

place_init() {
  # Where LocalStack looks for its init before downloading it; ours only if nothing is there.
  local libs target
  libs=$(localstack_env; "$CACHE/venv/bin/python" -c 'from localstack import config; print(config.dirs.var_libs)')
  target=$libs/lambda-runtime/$INIT_VERSION/$(uname -m | sed 's/aarch64/arm64/')/var/rapid/init
  if [ -f "$target" ] && ! grep -q "stand-in for LocalStack's Lambda init" "$target" 2>/dev/null; then
    say "LocalStack's own Lambda init is in place: using it"
    return
  fi
  mkdir -p "$(dirname "$target")"
  install -m 755 infra/localstack/lambda_init.py "$target"
  say "Lambda init: lambdagram's stand-in (infra/localstack/lambda_init.py), LocalStack's own cannot be downloaded here"
}

up_b() {
  localstack_venv
  registry
  runtime_image
  place_init
  if ! started redis; then
    start_bg redis redis-server --bind "$(gateway)" --port "$REDIS_PORT" --protected-mode no \
      --save '' --appendonly yes --dir "$RUN"
  fi
  if ! http_ok "$ENDPOINT/_localstack/health"; then
    say "starting LocalStack $LOCALSTACK_VERSION (host mode)"
    (localstack_env; start_bg localstack "$CACHE/venv/bin/localstack" start --host)
    wait_for 120 LocalStack http_ok "$ENDPOINT/_localstack/health"
  fi
}

# ---- setting a: the official images ---------------------------------------------------------

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose -f infra/docker-compose.yml "$@"
  else docker-compose -f infra/docker-compose.yml "$@"; fi
}

up_a() {
  compose up -d
  wait_for 120 LocalStack http_ok "$ENDPOINT/_localstack/health"
}

# ---- both -----------------------------------------------------------------------------------

aws_command() { # LocalStack's venv has an AWS CLI; setting a uses the machine's
  if [ -x "$CACHE/venv/bin/aws" ]; then echo "$CACHE/venv/bin/aws"; else echo aws; fi
}

redis_url() {
  if [ "$(setting)" = a ]; then echo "redis://redis:6379/0"; else echo "redis://$(gateway):$REDIS_PORT/0"; fi
}

fake_api() { # the fake Bot API on the host, for the functions' containers
  started fake-api && return
  start_bg fake-api "$PY" -m lambdagram.local.fake_telegram --host "$(gateway)" --port "$FAKE_API_PORT"
  wait_for 30 "the fake Bot API" http_ok "http://$(gateway):$FAKE_API_PORT/bot1:x/getMe"
}

licence() { # a release past 4.13 without a token fails late and obscurely: say it first
  case "$LOCALSTACK_VERSION" in
    4.13.*) ;;
    *) [ -n "${LOCALSTACK_AUTH_TOKEN:-}" ] || die "LocalStack $LOCALSTACK_VERSION asks for an auth token (its licence since March 2026; 4.13.1 is the last release that runs without one): set LOCALSTACK_AUTH_TOKEN, or keep LOCALSTACK_VERSION=4.13.1" ;;
  esac
}

up() {
  licence
  ensure_docker
  docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null
  local s
  s=$(setting)
  say "setting $s: $([ "$s" = a ] && echo "LocalStack's and Redis's official images" || echo "LocalStack from PyPI, images built here, lambdagram's Lambda init")"
  "up_$s"
  [ -n "${BOT_TOKEN:-}" ] || fake_api
  say "LocalStack is up at $ENDPOINT"
}

deploy() {
  # LOCAL_REDIS_URL and LOCAL_TELEGRAM_API_URL override what `up` started (the tests use theirs)
  local arch telegram=${LOCAL_TELEGRAM_API_URL:-}
  arch=$(uname -m | sed 's/aarch64/arm64/')
  [ -n "$telegram" ] || [ -n "${BOT_TOKEN:-}" ] || telegram="http://$(gateway):$FAKE_API_PORT"
  STAGE=local REGION=eu-west-1 BOT_TOKEN=${BOT_TOKEN:-123456789:local-rehearsal-token} \
    REDIS_URL=${LOCAL_REDIS_URL:-$(redis_url)} WEBHOOK_SECRET=${WEBHOOK_SECRET:-local-rehearsal-secret} \
    AWS="$(aws_command) --endpoint-url=$ENDPOINT" scripts/params.sh
  local timers long
  timers=$("$PY" -m lambdagram timers) # the example bot's reminders: the schedule group and roles
  long=$("$PY" -m lambdagram long-work 2>/dev/null) # its long handlers and broadcasts: the worker
  scripts/package.sh local "$arch" dist/local --param="telegramApiUrl=$telegram" \
    --param="timers=$timers" --param="longWork=$long" >/dev/null
  PYTHON_BIN=$PY node_modules/.bin/serverless deploy --stage local --package dist/local \
    --param="architecture=$arch" --param="wheelPlatform=$(uname -m)" --param="telegramApiUrl=$telegram" \
    --param="pythonVersion=$PYVER" --param="timers=$timers" --param="longWork=$long"
}

function_url() {
  node_modules/.bin/serverless info --stage local --verbose 2>/dev/null | sed -n 's/^ *WebhookLambdaFunctionUrl: *//p'
}

send() { # [JSON body]: POST an update to the deployed function (default: /help)
  local url host body
  url=$(function_url)
  [ -n "$url" ] || die "no Function URL in 'serverless info --stage local': run make local-deploy"
  host=${url#http://}; host=${host%%/*}; host=${host%%:*}
  body=${1:-'{"update_id": '$RANDOM', "message": {"message_id": 1, "date": 1700000000, "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}], "chat": {"id": 1, "type": "private", "first_name": "Local"}, "from": {"id": 1, "is_bot": false, "first_name": "Local"}}}'}
  # The Function URL's host needs public DNS (*.localhost.localstack.cloud): pin it here.
  "$PY" -c 'import http.client, sys
host, path, secret, body = sys.argv[1:]
connection = http.client.HTTPConnection("127.0.0.1", 4566, timeout=120)
connection.request("POST", path, body.encode(), {"Host": host + ":4566",
    "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})
answer = connection.getresponse()
print(answer.read().decode(), f"[HTTP {answer.status}]")
sys.exit(answer.status != 200)' \
    "$host" "/${url#http://*/}webhook" "${WEBHOOK_SECRET:-local-rehearsal-secret}" "$body"
}

down() {
  for c in $(docker ps -aq --filter "network=$NETWORK" 2>/dev/null); do docker rm -f "$c" >/dev/null 2>&1 || true; done
  [ "$(cat "$RUN/setting" 2>/dev/null)" = a ] && compose down -v >/dev/null 2>&1 || true
  for name in fake-api localstack redis registry; do
    if started "$name"; then stop_bg "$name"; fi
    rm -f "$RUN/$name.pid"
  done
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  if started dockerd; then
    sleep 2
    as_root kill "$(cat "$RUN/dockerd.pid")" 2>/dev/null || true
    for _ in $(seq 20); do started dockerd || break; sleep 0.5; done
  fi
  rm -f "$RUN/dockerd.pid" "$RUN/setting"
  say "stopped what the rehearsal started"
}

can_run() { # can this machine run the rehearsal? (a Docker daemon, or root or sudo to start one)
  if [ -n "${LAMBDAGRAM_NO_LOCALSTACK:-}" ]; then
    echo "LAMBDAGRAM_NO_LOCALSTACK is set: no LocalStack rehearsal (make local-test runs it)"; return 1
  fi
  if [ -z "$(localstack_python)" ] && [ "$(setting_if_known)" != a ]; then
    echo "the LocalStack rehearsal needs a Python 3.13 or 3.12 for LocalStack $LOCALSTACK_VERSION (none here): install python3, then make local-test"; return 1
  fi
  docker info >/dev/null 2>&1 && return 0
  if ! command -v dockerd >/dev/null && ! command -v apt-get >/dev/null; then
    echo "no Docker here and no apt to install it: no LocalStack rehearsal (install Docker, then make local-test)"; return 1
  fi
  [ "$(id -u)" = 0 ] && return 0
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then return 0; fi
  if command -v sudo >/dev/null; then
    echo "the LocalStack rehearsal needs root to install and start Docker: run 'sudo -v' and then make test again (or make local-test), or set LAMBDAGRAM_NO_LOCALSTACK=1 to skip it"
  else
    echo "the LocalStack rehearsal needs root to install and start Docker, and there is no sudo: run make local-test as root (or start Docker yourself)"
  fi
  return 1
}

status() {
  for name in dockerd registry redis localstack fake-api; do
    if started "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: -"; fi
  done
}

command=${1:?up|deploy|send|down|status|can-run}
"${command//-/_}" "${@:2}"
