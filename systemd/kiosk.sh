#!/bin/sh
# edge-kiosk.service runs this: the gateway's page full screen, in Chromium under the cage Wayland compositor.
# The page is served by the gateway on 127.0.0.1 (the "not provisioned" screen until it is provisioned).
set -eu
url=${EDGE_KIOSK_URL:-http://127.0.0.1:8080/}
for c in chromium chromium-browser; do
  if command -v "$c" >/dev/null 2>&1; then browser=$c; break; fi
done
if [ -z "${browser:-}" ]; then
  echo "edge-kiosk: no chromium found; install it: sudo apt-get install chromium" >&2
  exit 1
fi
exec cage -s -- "$browser" --kiosk --noerrdialogs --disable-infobars --no-first-run \
  --disable-session-crashed-bubble --disable-features=Translate --ozone-platform=wayland \
  --user-data-dir="$HOME/chromium" --check-for-update-interval=31536000 "$url"
