#!/usr/bin/env bash
# `npm run bench`: gvmconv squashfs vs mksquashfs on a Debian root filesystem and a generated
# large file (gzip and xz), then the whole registry → SquashFS pipeline against skopeo + umoci +
# mksquashfs (bench/pipeline.ts). A benchmark, not a test. Inputs are cached under bench/out/
# (gitignored). `npm run bench -- squashfs` or `npm run bench -- pipeline [gzip9|gzip6|xz] [--runs=N]
# [--profile]` runs one of them alone. `npm run bench -- gzip` compares the gzip encoders
# (bench/gzip.ts) on the rootfs and a mixed-binary tree; `npm run bench -- cache` times a
# re-conversion with every data block in the block cache against a cold one (bench/block-cache.ts).
# `npm run bench -- small [--500k]` images generated trees of many small files with gvmconv (from a
# directory and from a tar), mksquashfs and tar2sqfs (bench/small-files.ts).
set -euo pipefail
what="${1:-all}"
if [ $# -gt 0 ]; then shift; fi
case "$what" in all | squashfs | gzip | cache | small | pipeline | build) ;; *) echo "usage: bench.sh [all|squashfs|gzip|cache|small [--500k]|pipeline [ARGS…]|build [ARGS…]]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npx tsc -p tsconfig.json
npx tsc -p tsconfig.test.json
mkdir -p bench/out

if [ "$what" = all ] || [ "$what" = squashfs ] || [ "$what" = gzip ]; then
# A Debian root filesystem: debootstrap when it works (needs the Debian mirror), else a copy of /usr.
rootfs=bench/out/rootfs
if [ ! -e "$rootfs.complete" ]; then
  rm -rf "$rootfs"
  if command -v debootstrap >/dev/null && debootstrap --variant=minbase bookworm "$rootfs" >bench/out/debootstrap.log 2>&1; then
    echo "rootfs: debootstrap --variant=minbase bookworm" > "$rootfs.complete"
  else
    echo "debootstrap unavailable or failed (see bench/out/debootstrap.log); copying /usr instead" >&2
    rm -rf "$rootfs"; mkdir -p "$rootfs"
    cp -a /usr "$rootfs/usr"
    echo "rootfs: copy of /usr" > "$rootfs.complete"
  fi
fi
echo "$(cat "$rootfs.complete"), $(du -sh --exclude=proc "$rootfs" | cut -f1)"

# A large file: 512 MiB, half incompressible, half text-like (deterministic).
large=bench/out/large
if [ ! -e "$large.complete" ]; then
  rm -rf "$large"; mkdir -p "$large"
  node -e '
    const fs = require("fs"); const crypto = require("crypto");
    const fd = fs.openSync(process.argv[1], "w");
    let seed = crypto.createHash("sha256").update("gvmconv").digest();
    const words = "the quick brown fox jumps over a lazy dog golem image layer block ".split(" ");
    for (let i = 0; i < 256; i++) {
      const rnd = Buffer.alloc(1 << 20);
      for (let o = 0; o < rnd.length; o += 32) { seed = crypto.createHash("sha256").update(seed).digest(); seed.copy(rnd, o); }
      fs.writeSync(fd, rnd);
      let text = ""; let k = i;
      while (text.length < (1 << 20)) { k = (k * 1103515245 + 12345) >>> 0; text += words[k % words.length] + (k % 13 === 0 ? "\n" : " "); }
      fs.writeSync(fd, Buffer.from(text.slice(0, 1 << 20)));
    }
    fs.closeSync(fd);' "$large/big.bin"
  touch "$large.complete"
fi

if [ "$what" != gzip ]; then node build/bench/squashfs.js "rootfs=$rootfs" "large=$large"; fi
fi

if [ "$what" = all ] || [ "$what" = gzip ]; then
  # A mixed-binary tree: the first 160 MiB of /usr/bin and of /usr/lib/<arch> (sorted, regular
  # files only): executables, shared libraries, some data — what an application image adds.
  mixed=bench/out/mixed
  if [ ! -e "$mixed.complete" ]; then
    rm -rf "$mixed"; mkdir -p "$mixed"
    for src in /usr/bin "$(ls -d /usr/lib/*-linux-gnu | head -1)"; do
      find "$src" -maxdepth 1 -type f -printf '%s\t%P\n' | LC_ALL=C sort -t "$(printf '\t')" -k2 |
        awk -F '\t' -v dir="$src" -v limit=$((160 << 20)) '{ total += $1; if (total > limit) exit; print dir "/" $2 }' |
        while IFS= read -r f; do mkdir -p "$mixed$(dirname "$f")"; cp -p "$f" "$mixed$f"; done
    done
    touch "$mixed.complete"
  fi
  echo "mixed: $(du -sh "$mixed" | cut -f1), $(find "$mixed" -type f | wc -l) files"
  node build/bench/gzip.js "rootfs=$rootfs" "mixed=$mixed"
fi

if [ "$what" = all ] || [ "$what" = cache ]; then
  node build/bench/block-cache.js
fi

if [ "$what" = all ] || [ "$what" = small ]; then
  if [ "$what" = small ]; then node build/bench/small-files.js "$@"; else node build/bench/small-files.js; fi
fi

if [ "$what" = all ] || [ "$what" = pipeline ]; then
  node build/bench/pipeline.js "$@"
fi

if [ "$what" = all ] || [ "$what" = build ]; then
  node build/bench/build.js "$@"
fi
