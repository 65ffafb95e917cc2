#!/usr/bin/env bash
# Installs what the tests need when it is missing: Debian packages listed in
# scripts/test-deps.txt (via apt-get; CI and developers run as root) and the npm dependencies.
# `--npm-only`: the npm dependencies alone, which is all the sample needs (`npm run sample`
# converts a 4.5 KiB image; the test packages - qemu, a kernel, a registry, debootstrap - are
# ~500 MB it has no use for).
set -euo pipefail
cd "$(dirname "$0")/.."

npm_only=false
[ "${1:-}" = "--npm-only" ] && npm_only=true

missing=()
if ! $npm_only; then
  while read -r cmd pkg; do
    case "$cmd" in ''|'#'*) continue ;; esac
    if [[ "$cmd" == /* ]]; then
      # A path (for packages that ship files rather than commands on PATH).
      compgen -G "$cmd" >/dev/null || missing+=("$pkg")
    else
      command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    fi
  done < scripts/test-deps.txt
fi

if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# moto's S3 server (build's S3 publish tests): Debian packages no S3 server, so it comes from PyPI,
# pinned. `--break-system-packages` only where the Python is Debian's own (PEP 668).
if ! $npm_only && ! command -v moto_server >/dev/null 2>&1; then
  echo "installing moto[server] 5.2.1 (pip)" >&2
  python3 -m pip --version >/dev/null 2>&1 || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >&2
  }
  python3 -m pip install -q 'moto[server]==5.2.1' >&2 ||
    python3 -m pip install -q --break-system-packages 'moto[server]==5.2.1' >&2
fi

# npm dependencies: install from the lock file when node_modules is absent or out of date. A
# symlinked node_modules is another checkout's (a worktree sharing the main one's): npm ci would
# empty the directory it points to, so it is left alone.
if [ -L node_modules ]; then
  :
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
