#!/usr/bin/env bash
# The README's main job: convert the sample OCI image shipped in samples/ into a .gvmi with no
# network, print its hash, and check it with `gvmconv verify` (and the independent sha3sum).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npx tsc -p tsconfig.json
out="${SAMPLE_OUT:-out}"
mkdir -p "$out"
gvmconv=(node dist/cli/main.js)
"${gvmconv[@]}" oci:samples/hello-oci:latest -o "$out/hello-oci.gvmi" --force "$@"
"${gvmconv[@]}" verify "$out/hello-oci.gvmi"
"${gvmconv[@]}" ls "$out/hello-oci.gvmi" / -l
if command -v sha3sum >/dev/null; then
  echo "independent check (sha3sum -a 224): $(sha3sum -a 224 "$out/hello-oci.gvmi" | cut -d' ' -f1)"
fi
