#!/usr/bin/env bash
# Refresh static/vendor/ from the npm registry (versions pinned here). Run: make vendor
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund bootstrap@5.3.9 sortablejs@1.15.7 chart.js@4.6.1 >/dev/null)
n=$tmp/node_modules v=static/vendor
mkdir -p $v/bootstrap $v/sortablejs $v/chartjs
cp $n/bootstrap/dist/css/bootstrap.min.css* $n/bootstrap/dist/js/bootstrap.bundle.min.js* $v/bootstrap/
cp $n/bootstrap/LICENSE $v/bootstrap/LICENSE
cp $n/sortablejs/Sortable.min.js $n/sortablejs/LICENSE $v/sortablejs/
# chart.umd.js is the minified UMD build; its last line names chart.umd.js.map, which must sit
# beside it or `collectstatic` with the manifest storage (DEBUG=false) refuses the whole build.
cp $n/chart.js/dist/chart.umd.js $v/chartjs/chart.umd.min.js && cp $n/chart.js/LICENSE.md $v/chartjs/
cp $n/chart.js/dist/chart.umd.js.map $v/chartjs/chart.umd.js.map
# Every file a vendored asset references (source maps) must be here: check, don't hope.
missing=0
for f in $v/*/*.js $v/*/*.css; do
  ref=$(sed -n 's|.*sourceMappingURL=\([^ *]*\).*|\1|p' "$f" | tail -1)
  if [ -n "$ref" ] && [ ! -f "$(dirname "$f")/$ref" ]; then
    echo "$f names $ref, which is missing" >&2; missing=1
  fi
done
[ $missing = 0 ]
echo "static/vendor refreshed"
