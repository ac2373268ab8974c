#!/bin/sh
# Install edge-gateway on 64-bit Raspberry Pi OS (Bookworm or Trixie), as root:
#   the Debian packages it needs, a virtual environment under /opt/edge-gateway/releases/<version> with a
#   `current` link, `edge` in /usr/local/bin, the systemd units, accounts and folders, all enabled.
# Idempotent: a second run with the same release changes nothing.
#
#   sudo systemd/install.sh                      # from this source tree
#   sudo WHEEL=edge_gateway-0.2.0-py3-none-any.whl systemd/install.sh
#
# Settings (environment):
#   WHEEL=PATH            install this wheel (default: build from this source tree)
#   DESTDIR=DIR           install into DIR instead of / (tests, images): no apt-get, no accounts, no starting;
#                         units are enabled offline with `systemctl --root=DIR` (a SYSTEMCTL given without --root
#                         is used as on /: daemon-reload, enable, reset-failed, start or restart)
#   PIP_INSTALL_ARGS=...  extra pip arguments, e.g. "--no-index --find-links /media/usb/wheels" offline
#   PYTHON=python3        the interpreter for the virtual environment
#   APT_GET, SYSTEMCTL    the commands used (":" skips them)
#   REINSTALL=1           rebuild the release even if it is already installed
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
PREFIX=/opt/edge-gateway
PYTHON=${PYTHON:-python3}
PIP_INSTALL_ARGS=${PIP_INSTALL_ARGS:-}
WHEEL=${WHEEL:-}
REINSTALL=${REINSTALL:-}
if [ -n "$DESTDIR" ]; then
  APT_GET=${APT_GET:-:}
  SYSTEMCTL=${SYSTEMCTL:-systemctl --root=$DESTDIR}
else
  APT_GET=${APT_GET:-apt-get}
  SYSTEMCTL=${SYSTEMCTL:-systemctl}
fi
UNITS="edge-gateway.service edge-provision.service edge-kiosk.service"
LIB=/usr/local/lib
changed=""

say() { echo "install: $*"; }

# ---- Debian packages: only the missing ones, so a second run does not touch apt ------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
available() { apt-cache show "$1" >/dev/null 2>&1; }

debian_packages() {
  [ "$APT_GET" = ":" ] && return 0
  browser=chromium
  available chromium || browser=chromium-browser  # the older Raspberry Pi OS name
  want=""
  for p in python3-venv bluez fonts-noto-cjk cage "$browser" python3-lgpio; do
    installed "$p" && continue
    if [ "$p" = python3-lgpio ] && ! available python3-lgpio; then continue; fi  # Raspberry Pi OS only
    want="$want $p"
  done
  [ -z "$want" ] && return 0
  say "Debian packages:$want"
  DEBIAN_FRONTEND=noninteractive $APT_GET install -y --no-install-recommends $want
}

# ---- the release: a virtual environment that sees Debian's python3-lgpio (GPIO on the Pi) -------------------
release_version() {
  if [ -n "$WHEEL" ]; then
    basename "$WHEEL" | sed -n 's/^edge_gateway-\([^-]*\)-.*\.whl$/\1/p'
  else
    sed -n 's/^version = "\(.*\)"$/\1/p' "$SRC/pyproject.toml"
  fi
}

# what the release is built from, as edge/update.py writes it in the marker: sha256:<hex> of the wheel
source_id() {
  if [ -n "$WHEEL" ]; then echo "sha256:$(sha256sum "$WHEEL" | cut -d' ' -f1)"; else echo "source $VERSION"; fi
}

# the marker of a complete release (older versions of this script wrote the bare hex)
built_from() {
  [ -f "$1/.edge-release" ] || return 0
  m=$(cat "$1/.edge-release")
  case $m in *:* | *" "*) echo "$m" ;; *) echo "sha256:$m" ;; esac
}

# The venv is built where it stays (pip writes its path into every script: a renamed venv cannot start) and is
# complete once .edge-release is written, last. releases/<version>, or releases/<version>-<hash> when <version> is
# the running release built from something else: the running release is never built over. Sets RELEASE.
build_release() {
  want_id=$(source_id)
  running=$(readlink "$DESTDIR$PREFIX/current" 2>/dev/null || true)
  running=${running#releases/}
  hashed=$VERSION-$(echo "$want_id" | sed 's/^sha256://' | cut -c1-12)
  [ "$want_id" = "source $VERSION" ] && hashed=$VERSION-source
  if [ "$running" = "$hashed" ]; then slots="$hashed $VERSION"; else slots="$VERSION $hashed"; fi
  if [ -z "$REINSTALL" ]; then
    for RELEASE in $slots; do
      [ "$(built_from "$DESTDIR$PREFIX/releases/$RELEASE")" = "$want_id" ] && return 0
    done
  fi
  for RELEASE in $slots; do [ "$RELEASE" != "$running" ] && break; done
  rel=$DESTDIR$PREFIX/releases/$RELEASE
  say "building release $VERSION in $PREFIX/releases/$RELEASE"
  rm -rf "$rel"  # an interrupted build (no marker), or an older build that is not running
  mkdir -p "$(dirname "$rel")"
  # shellcheck disable=SC2086
  if ! { "$PYTHON" -m venv --system-site-packages "$rel" &&
         "$rel/bin/pip" install --quiet --disable-pip-version-check $PIP_INSTALL_ARGS "${WHEEL:-$SRC}"; }; then
    rm -rf "$rel"
    echo "install: building the release failed" >&2
    exit 1
  fi
  sync  # pip syncs nothing: the files reach the disk before the marker says they are whole
  echo "$want_id" > "$rel/.edge-release"
  sync
  changed=1
}

# Builds nothing will finish, which take room on a small SD card: <version>.partial folders of older versions (built
# beside, then renamed) and releases without their marker (cut short). Never the running release.
remove_unfinished() {
  running=$(readlink "$DESTDIR$PREFIX/current" 2>/dev/null || true)
  for rel in "$DESTDIR$PREFIX"/releases/*; do
    if [ -L "$rel" ] || [ ! -d "$rel" ] || [ "releases/${rel##*/}" = "$running" ]; then continue; fi
    case $rel in *.partial) ;; *) [ -f "$rel/.edge-release" ] && continue ;; esac
    say "removing the unfinished build $PREFIX/releases/${rel##*/}"
    rm -rf "$rel"
  done
}

# a symlink replaced atomically, and only when it points elsewhere
link() {
  if [ "$(readlink "$2" 2>/dev/null || true)" != "$1" ]; then
    mkdir -p "$(dirname "$2")"
    ln -sfn "$1" "$2.new"
    mv -T "$2.new" "$2"
    changed=1
  fi
}

# copy a file only when its content or mode differs (install -C keeps it untouched otherwise)
put() {
  mode=$1 from=$2 to=$DESTDIR$3
  if ! cmp -s "$from" "$to" 2>/dev/null || [ "$(stat -c %a "$to")" != "$mode" ]; then
    install -D -m "$mode" "$from" "$to"
    changed=1
  fi
}

install_files() {
  link "releases/$RELEASE" "$DESTDIR$PREFIX/current"
  link "$PREFIX/current/bin/edge" "$DESTDIR/usr/local/bin/edge"
  for u in $UNITS; do put 644 "$SRC/systemd/$u" "$LIB/systemd/system/$u"; done
  put 644 "$SRC/systemd/sysusers.d/edge-gateway.conf" "$LIB/sysusers.d/edge-gateway.conf"
  put 644 "$SRC/systemd/tmpfiles.d/edge-gateway.conf" "$LIB/tmpfiles.d/edge-gateway.conf"
  put 755 "$SRC/systemd/kiosk.sh" "$LIB/edge-gateway/kiosk"
  put 644 "$SRC/systemd/pam.d/edge-kiosk" /etc/pam.d/edge-kiosk
  put 644 "$SRC/systemd/edge-gateway.toml.sample" /usr/local/share/edge-gateway/edge-gateway.toml.sample
  put 644 "$SRC/systemd/cloud-init/user-data" /usr/local/share/edge-gateway/user-data
  put 644 "$SRC/README.md" /usr/local/share/doc/edge-gateway/README.md
}

# accounts and folders (only on a live system: they need the real /etc/passwd)
accounts() {
  [ -n "$DESTDIR" ] && return 0
  systemd-sysusers "$LIB/sysusers.d/edge-gateway.conf"
  systemd-tmpfiles --create "$LIB/tmpfiles.d/edge-gateway.conf"
}

enable_units() {
  [ "$SYSTEMCTL" = ":" ] && return 0
  tool=${SYSTEMCTL%% *}
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "$tool not found: the units are installed but not enabled"
    return 0
  fi
  # `systemctl --root` (the DESTDIR default) only enables unit files: nothing to reload or start
  case " $SYSTEMCTL" in *" --root"*) live= ;; *) live=1 ;; esac
  if [ -n "$live" ]; then $SYSTEMCTL daemon-reload; fi
  # shellcheck disable=SC2086
  $SYSTEMCTL enable --quiet $UNITS
  [ -n "$live" ] || return 0
  # a release that crash-looped into StartLimitBurst leaves the unit refusing start and restart until its failures
  # are forgotten (as edge update does)
  $SYSTEMCTL reset-failed edge-gateway.service || :
  if [ -n "$changed" ]; then $SYSTEMCTL restart edge-gateway.service; else $SYSTEMCTL start edge-gateway.service; fi
}

VERSION=$(release_version)
if [ -z "$VERSION" ]; then
  echo "install: cannot tell the version (WHEEL must be named edge_gateway-<version>-....whl)" >&2
  exit 2
fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
  echo "install: run as root (sudo), or set DESTDIR to install into a folder" >&2
  exit 2
fi
debian_packages
# one at a time with `edge update` (the same lock): neither removes the other's unfinished build
mkdir -p "$DESTDIR$PREFIX/releases"
exec 9>>"$DESTDIR$PREFIX/.update.lock"
if ! flock -n 9; then
  echo "install: edge update or another install.sh is running; try again when it is done" >&2
  exit 1
fi
remove_unfinished
build_release
install_files
accounts
enable_units
if [ -n "$changed" ]; then
  say "edge-gateway $VERSION installed${DESTDIR:+ into $DESTDIR}; next: provision it (README, Installing on a Raspberry Pi)"
else
  say "edge-gateway $VERSION was already installed${DESTDIR:+ in $DESTDIR}; nothing changed"
fi
