#!/usr/bin/env bash
# The README's two commands on a really fresh machine: a minimal Debian root made with
# debootstrap, holding only what the README says a user has (make, git, ca-certificates,
# python3; sudo for the ordinary user), the repository cloned into it from this checkout's HEAD,
# then `make demo` and `make test` as root and as a user with sudo, each in a clean environment.
# Not part of `make test` (it takes the better part of an hour); run it before a release:
#
#   scripts/fresh-machine.sh [root|user|both] [SUITE]      # both, trixie by default
#
# Needs root (debootstrap, chroot, mounts). The root lives in /var/tmp/lambdagram-fresh/<suite>
# (FRESH_DIR; never inside the project, whose tree packaging walks); each run
# starts from a copy of the pristine one. It reports each command's result and wall time, then
# checks that nothing the commands started is left running inside the root, and stops it if so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHO=${1:-both}
SUITE=${2:-trixie}
FRESH=${FRESH_DIR:-/var/tmp/lambdagram-fresh}
BASE=$FRESH/$SUITE-pristine
TARGET=$FRESH/$SUITE
REPORT=$ROOT/.tmp/fresh-machine-$SUITE.txt
case "$SUITE" in  # Ubuntu's releases: its archive, all four components as an install enables
  noble|jammy|oracular|plucky)
    MIRROR=${MIRROR:-http://archive.ubuntu.com/ubuntu}
    EXTRA=(--components=main,restricted,universe,multiverse)
    SCRIPT=/usr/share/debootstrap/scripts/gutsy  # what debootstrap's Ubuntu scripts link to
    ;;
  *) MIRROR=${MIRROR:-http://deb.debian.org/debian}; EXTRA=(); SCRIPT= ;;
esac

say() { printf '[fresh] %s\n' "$*" | tee -a "$REPORT" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run it as root (debootstrap, chroot and mounts need it)"
mkdir -p "$ROOT/.tmp" "$FRESH"
: > "$REPORT"

command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null

if [ ! -f "$BASE/.done" ]; then
  say "debootstrap --variant=minbase $SUITE (make, git, ca-certificates, python3, sudo)"
  rm -rf "$BASE"
  if [ -n "$SCRIPT" ]; then  # Ubuntu's archive key, where this machine has it (ubuntu-keyring)
    if [ -f /usr/share/keyrings/ubuntu-archive-keyring.gpg ]; then
      EXTRA+=(--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg)
    else
      say "no Ubuntu archive key here (package ubuntu-keyring): the root's packages are not verified"
      EXTRA+=(--no-check-gpg)
    fi
  fi
  debootstrap --variant=minbase --include=make,git,ca-certificates,python3,sudo "${EXTRA[@]}" \
    "$SUITE" "$BASE" "$MIRROR" $SCRIPT > "$ROOT/.tmp/fresh-debootstrap.log" 2>&1
  touch "$BASE/.done"
fi

mounted=()
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  mounted=()
}

inside_pids() { # processes whose root directory is the fresh root
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$TARGET" ] && echo "${p#/proc/}"
  done
  return 0
}

cleanup() {
  local left
  left=$(inside_pids | tr '\n' ' ')
  if [ -n "$left" ]; then
    say "left running inside the root: $(for p in $left; do tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-60; echo; done | sort -u | tr '\n' ';')"
    kill -9 $left 2>/dev/null || true
    sleep 1
  fi
  unmount_all
}
trap cleanup EXIT

fresh_root() {
  unmount_all
  rm -rf "$TARGET"
  cp -a "$BASE" "$TARGET"
  # this machine's own CA certificates (a TLS-inspecting proxy's, say), as its users have them
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$TARGET/usr/local/share/ca-certificates/"
    chroot "$TARGET" update-ca-certificates >/dev/null 2>&1
  fi
  cp /etc/resolv.conf "$TARGET/etc/resolv.conf"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$(hostname)" > "$TARGET/etc/hosts"  # as an installer writes it
  # the root a mount point of its own, as a machine's / is (Docker's runtime remounts it)
  mount --bind "$TARGET" "$TARGET" && mount --make-private "$TARGET"
  mounted+=("$TARGET")
  for fs in proc sys dev dev/pts; do
    mount --rbind "/$fs" "$TARGET/$fs" && mount --make-rslave "$TARGET/$fs"
    mounted+=("$TARGET/$fs")
  done
  mkdir -p "$TARGET/run" && mount -t tmpfs tmpfs "$TARGET/run" && mounted+=("$TARGET/run")
  chroot "$TARGET" useradd -m -s /bin/bash dev
  echo 'dev ALL=(ALL) NOPASSWD:ALL' > "$TARGET/etc/sudoers.d/dev"
  git clone -q --no-local "$ROOT" "$TARGET/root/lambdagram"
  git clone -q --no-local "$ROOT" "$TARGET/home/dev/lambdagram"
  chroot "$TARGET" chown -R dev:dev /home/dev/lambdagram
}

run_as() { # user command: run it in the root with a clean environment; "OK 35 s" or "FAILED ..."
  local user=$1 command=$2 home started code
  home=$([ "$user" = root ] && echo /root || echo "/home/$user")
  started=$(date +%s)
  set +e
  chroot --userspec="$user:$user" "$TARGET" env -i HOME="$home" USER="$user" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    bash -c "cd ~/lambdagram && $command" > "$ROOT/.tmp/fresh-$user-${command// /-}.log" 2>&1
  code=$?
  set -e
  local seconds=$(( $(date +%s) - started ))
  if [ $code = 0 ]; then say "$user: $command: OK in ${seconds} s"
  else say "$user: $command: FAILED (exit $code) after ${seconds} s; last lines:"; tail -n 15 "$ROOT/.tmp/fresh-$user-${command// /-}.log" | tee -a "$REPORT" >&2; fi
  return $code
}

for user in $([ "$WHO" = both ] && echo root dev || { [ "$WHO" = user ] && echo dev || echo root; }); do
  say "a fresh $SUITE root, the repository cloned in ($(git rev-parse --short HEAD)); $user"
  fresh_root
  run_as "$user" "make demo" || true
  run_as "$user" "make test" || true
  left=$(inside_pids | wc -l)
  say "$user: $left process(es) left running inside the root afterwards"
  cleanup
done
say "report: $REPORT"
