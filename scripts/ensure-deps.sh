#!/usr/bin/env bash
# Installs what the tests and the sample need when it is missing: Debian packages listed in
# scripts/test-deps.txt (via apt-get; CI and developers run as root) and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r cmd pkg; do
  case "$cmd" in ''|'#'*) continue ;; esac
  if [[ "$cmd" == /* ]]; then
    # A path (for packages that ship files rather than commands on PATH).
    compgen -G "$cmd" >/dev/null || missing+=("$pkg")
  else
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done < scripts/test-deps.txt

if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# npm dependencies: install from the lock file when node_modules is absent or out of date. A
# symlinked node_modules is another checkout's (a worktree sharing the main one's): npm ci would
# empty the directory it points to, so it is left alone.
if [ -L node_modules ]; then
  :
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
