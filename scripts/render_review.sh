#!/bin/sh
# Render the review pack's single page (docs/review/index.html) to a PNG with headless
# Chromium (Debian: apt-get install chromium). A look at what a reviewer sees; CI does not
# depend on it.
#   scripts/render_review.sh [OUT.png] [WIDTH] [HEIGHT]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$here/docs/review/index.png"}
width=${2:-1400}
height=${3:-2000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "render_review.sh: no chromium on PATH (apt-get install chromium)" >&2
    exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --window-size="$width,$height" --virtual-time-budget=5000 \
    --screenshot="$out" "file://$here/docs/review/index.html" 2>/dev/null
echo "$out"
