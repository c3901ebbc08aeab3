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
for section in rules states compare matrix counterexamples costs findings; do
  sed "s|</head>|<style>section:not(#$section){display:none}</style></head>|" "$report/index.html" > "$work/$section.html"
done
# and one per architecture's state diagram, alone, in a window as tall as a printed page is
# to its width (does the kernel view fit on a page?)
arches=$(grep -o "class=arch id='states-[^']*'" "$report/index.html" | sed "s/.*id='states-//; s/'$//" || true)
for arch in $arches; do
  sed "s|</head>|<style>section:not(#states){display:none}.arch:not([id='states-$arch']){display:none}</style></head>|" \
    "$report/index.html" > "$work/states-$arch.html"
done
shoot() {  # name, window size
  echo "screenshot_report: $1"
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$2" \
    --screenshot="$out/$1.png" "file://$work/$1.html" >/dev/null 2>&1
}
for section in top rules states compare matrix counterexamples costs findings; do
  shoot "$section" 1400,1000
done
for arch in $arches; do
  shoot "states-$arch" 1400,1980
done
ls -l "$out"
