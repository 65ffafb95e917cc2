#!/usr/bin/env bash
# Exit 0 when dist/ (in DIR, default the repository) was built after every source it comes from
# was last changed, 1 when it must be compiled. tsc writes every output on each build, so
# dist/cli/main.js is as old as the last build.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
built=dist/cli/main.js
[ -f "$built" ] && [ -f dist/index.js ] || exit 1
sources=()
for s in src types tsconfig.json tsconfig.base.json package.json; do [ -e "$s" ] && sources+=("$s"); done
[ -z "$(find "${sources[@]}" -newer "$built" -print -quit)" ]
