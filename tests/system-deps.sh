#!/bin/sh
# Installs the Debian packages the tests need, only those missing. Run as root (CI is); otherwise it says what
# to install and the tests that need them say so when they skip.
set -e
want=""
need() { command -v "$1" >/dev/null 2>&1 || want="$want $2"; }
if [ "$1" = venv ]; then
  want="python3-venv"
else
  : # each subsystem adds its tools here, e.g.: need chromium chromium
  # BLE: bleak's BlueZ backend against python-dbusmock's bluez5 template on a private D-Bus
  need dbus-daemon dbus-daemon
  need dbus-send dbus-bin
  /usr/bin/python3 -c "import dbusmock" >/dev/null 2>&1 || want="$want python3-dbusmock"
  need fusermount3 fuse3         # store: power-cut tests on a FUSE filesystem (tests/powercut.py)
  need systemd-analyze systemd   # systemd/: unit verification and security rating, sysusers, tmpfiles
  need cloud-init cloud-init     # systemd/: the sample user-data against cloud-init's schema
  # kiosk: Playwright drives Debian's Chromium (never a downloaded browser); a CJK font so screenshots are legible
  need chromium chromium
  fc-list :lang=zh 2>/dev/null | grep -q . || want="$want fonts-noto-cjk"
fi
[ -z "$want" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: not root; please install:$want" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $want >/dev/null
