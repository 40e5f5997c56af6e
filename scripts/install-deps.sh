#!/bin/sh
# Installs the Debian packages that building, testing, the demo and the
# benchmarks need, and the unprivileged user the tests run sandboxes as.
# Idempotent: installs only what is missing. Usage: install-deps.sh GROUP...
# where GROUP is build, test, demo or bench.
set -eu

pkgs=""
for group in "$@"; do
  case "$group" in
    build) pkgs="$pkgs pkg-config libseccomp-dev" ;;
    test)  pkgs="$pkgs pkg-config libseccomp-dev python3 procps util-linux iproute2" ;;
    demo)  pkgs="$pkgs pkg-config libseccomp-dev iproute2" ;;
    bench) pkgs="$pkgs pkg-config libseccomp-dev bubblewrap firejail" ;;
    *) echo "install-deps: unknown group $group" >&2; exit 2 ;;
  esac
done

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
  fi
  echo "install-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The tests run sandboxes as root and as this unprivileged user.
user="${WSBOX_TEST_USER:-wsbox-test}"
case " $* " in
  *" test "*)
    if [ "$(id -u)" -eq 0 ] && ! id -u "$user" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
      echo "install-deps: created test user $user"
    fi ;;
esac
