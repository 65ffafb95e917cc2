#!/usr/bin/env bash
# The one command that runs every test (README: `npm test`). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
# A clean build: a test file moved or deleted must not linger as a stale build/ copy.
rm -rf build
npx tsc -p tsconfig.json
npx tsc -p tsconfig.test.json
npx prettier --check src test bench eslint.config.js
npx eslint --max-warnings 0 src test bench
# Test files run two at a time (the machines have 2 cores); each file is one process. Only
# *.test.js: Node 20 would otherwise also load the shared helpers under build/test as tests.
# A test file that hangs fails after 10 minutes, named, instead of stalling the run until CI's own
# limit kills it with no name (Node 20 applies --test-timeout to each file's process; the whole
# suite takes ~5 minutes, its slowest test, the kernel mounting every image under qemu, ~90 s).
mapfile -t files < <(find build/test -name '*.test.js' | sort)
node --test --test-concurrency=2 --test-timeout=600000 "${files[@]}"
