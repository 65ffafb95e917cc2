#!/usr/bin/env bash
# `npm run test:unit`: the fast subset for the edit-compile-test loop. Runs the tests that use no
# outside program — no root, no qemu, no registry, no squashfs-tools, umoci or skopeo — so it
# needs only `npm ci`. `npm test` (what CI runs) remains the whole suite.
#
# A test file counts as an integration test when its source names one of the programs or the
# helpers that start them (the list below); every other *.test.ts is a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund >&2
rm -rf build
npx tsc -p tsconfig.test.json
outside='startRegistry|startS3|moto_server|dbus-run-session|gnome-keyring|secret-tool|bsdtar|"script"|"zsh"|"fish"|missingTools|unsquashfs|mksquashfs|sqfsdiff|tar2sqfs|umoci|skopeo|qemu|docker-registry|podman|sha3sum|getfattr|setfattr|tree-walk|python3|getuid|execFileSync\("(tar|zstd|xz)"|spawnSync\("(tar|zstd|xz)"'
files=()
while IFS= read -r src; do
  grep -qE "$outside" "$src" || files+=("build/${src%.ts}.js")
done < <(find test -name '*.test.ts' | sort)
echo "unit tests: ${#files[@]} files (npm test runs all $(find test -name '*.test.ts' | wc -l))" >&2
node --test --test-concurrency=2 "${files[@]}"
