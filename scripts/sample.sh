#!/usr/bin/env bash
# The README's main job: convert the sample OCI image shipped in samples/ into a .gvmi with no
# network, print its hash, and check it with `gvmconv verify` (and the independent sha3sum when
# it is installed). It needs the npm dependencies only - not the Debian packages of the tests -
# and compiles only when a source is newer than the last build in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --npm-only
if bash scripts/dist-current.sh; then
  echo "dist/ is up to date with src/; not compiling" >&2
else
  echo "compiling src/ into dist/" >&2
  npx tsc -p tsconfig.json
fi
out="${SAMPLE_OUT:-out}"
mkdir -p "$out"
gvmconv=(node dist/cli/main.js)
# The sample runs as its own user (USER app, uid 1000, owner of /app), so it keeps it: without
# --keep-user the VM would run it as root, and gvmconv says so with W_GVMI_USER_DROPPED.
"${gvmconv[@]}" oci:samples/hello-oci:latest -o "$out/hello-oci.gvmi" --force --keep-user "$@"
"${gvmconv[@]}" verify "$out/hello-oci.gvmi"
"${gvmconv[@]}" ls "$out/hello-oci.gvmi" / -l
if command -v sha3sum >/dev/null; then
  echo "independent check (sha3sum -a 224): $(sha3sum -a 224 "$out/hello-oci.gvmi" | cut -d' ' -f1)"
fi
