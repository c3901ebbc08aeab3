#!/usr/bin/env bash
# Look at `ptelab report` in a real browser: Debian's chromium, headless, takes screenshots
# of the page's top and of each section (apt-get install chromium).
# Usage: tools/screenshot_report.sh [REPORT_DIR] [OUT_DIR]   (defaults: report, report/screenshots)
set -euo pipefail
report=${1:-report}
out=${2:-$report/screenshots}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "screenshot_report: no chromium (apt-get install chromium)" >&2; exit 2; }
[ -f "$report/index.html" ] || { echo "screenshot_report: no $report/index.html (run ptelab report --out $report)" >&2; exit 2; }
mkdir -p "$out"
out=$(realpath "$out")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$report/index.html" "$work/top.html"
# headless --screenshot ignores a URL's #fragment: one copy of the page per section,
# showing only that section (a style rule added to the page's head).
for section in rules states compare matrix counterexamples findings; do
  sed "s|</head>|<style>section:not(#$section){display:none}</style></head>|" "$report/index.html" > "$work/$section.html"
done
for section in top rules states compare matrix counterexamples findings; do
  echo "screenshot_report: $section"
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1000 \
    --screenshot="$out/$section.png" "file://$work/$section.html" >/dev/null 2>&1
done
ls -l "$out"
