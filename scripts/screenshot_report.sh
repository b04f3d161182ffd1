#!/bin/sh
# Screenshot a run's report.html with headless Chromium, offline.
#
#   scripts/screenshot_report.sh RUN_DIR OUT.png [WIDTH [HEIGHT]]
#
# RUN_DIR is a run folder of `chainrule train` (its report.html is used; rebuild an old
# one with `chainrule report RUN_DIR`), or a report .html file itself. WIDTH x HEIGHT is
# the browser window (default 1280 x 3600; the shot is the window, so make HEIGHT tall
# enough for the whole page). Needs Chromium: on Debian/Ubuntu `apt-get install chromium`
# (CHROMIUM=/path/to/chrome picks another binary). Name resolution is switched off, so the
# shot also proves that the page fetches nothing.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 RUN_DIR|REPORT.html OUT.png [WIDTH [HEIGHT]]" >&2
    exit 2
fi
src=$1
out=$2
width=${3:-1280}
height=${4:-3600}

if [ -d "$src" ]; then
    page=$src/report.html
else
    page=$src
fi
if [ ! -f "$page" ]; then
    echo "$0: no report at $page (write one with: chainrule report $src)" >&2
    exit 1
fi

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$name" >/dev/null 2>&1; then
            browser=$(command -v "$name")
            break
        fi
    done
fi
if [ -z "$browser" ]; then
    echo "$0: Chromium not found; install it (apt-get install chromium) or set CHROMIUM" >&2
    exit 1
fi

abs_page=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
mkdir -p "$(dirname "$out")"
abs_out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT INT TERM

# --no-sandbox: Chromium refuses to start as root without it (containers, CI)
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --disable-extensions --disable-background-networking --mute-audio \
    --user-data-dir="$profile" --host-resolver-rules="MAP * ~NOTFOUND" \
    --window-size="$width,$height" --screenshot="$abs_out" "file://$abs_page" \
    >/dev/null 2>&1 || true

if [ ! -s "$abs_out" ]; then
    echo "$0: Chromium ($browser) wrote no screenshot" >&2
    exit 1
fi
echo "wrote $out"
