#!/usr/bin/env bash
# Installs what the build, the tests and `npm start` need, skipping whatever is already there:
#   Debian packages (headless Chromium, ripgrep, headers for code-server's native modules),
#   the pinned VS Code host (code-server 4.100.3, tools/vscode-host), and this project's npm packages.
# Needs only Debian's apt repositories and the npm registry. Safe to run again: it checks stamps.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

say() { echo "setup: $*"; }

APT_PKGS=(build-essential pkg-config python3 libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep chromium curl)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# code-server's @vscode/ripgrep downloads rg from GitHub in its postinstall, but first looks in its cache
# folder: seed that cache with Debian's rg (same 13.0.0 release).
case "$(uname -m)" in
  x86_64) RG_TARGET=x86_64-unknown-linux-musl ;;
  aarch64) RG_TARGET=aarch64-unknown-linux-musl ;;
  *) echo "setup: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
RG_CACHE="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-1.15.11"
RG_TGZ="$RG_CACHE/ripgrep-v13.0.0-10-$RG_TARGET.tar.gz"
if [ ! -s "$RG_TGZ" ]; then
  mkdir -p "$RG_CACHE"
  d="$(mktemp -d)"; cp /usr/bin/rg "$d/rg"; tar czf "$RG_TGZ" -C "$d" rg; rm -rf "$d"
fi

# The VS Code host, pinned by tools/vscode-host/package-lock.json, in its own npm project so the
# extension's own install stays light.
HOST_DIR=tools/vscode-host
HOST_STAMP="$HOST_DIR/node_modules/.runcomfy-install-ok"
HOST_SUM="$(sha256sum "$HOST_DIR/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$HOST_STAMP" 2>/dev/null)" != "$HOST_SUM" ]; then
  say "installing the VS Code host (code-server 4.100.3; builds native modules, about 2-3 minutes)"
  ( cd "$HOST_DIR" && \
    npm_config_unsafe_perm=true \
    npm_config_yes=true \
    npm_config_build_from_source=true \
    npm_config_nodedir=/usr \
    npm_config_dangerously_allow_all_scripts=true \
    npm ci --no-audit --no-fund --loglevel=error )
  echo "$HOST_SUM" > "$HOST_STAMP"
fi

# This project's packages, pinned by package-lock.json.
NPM_STAMP=node_modules/.runcomfy-install-ok
NPM_SUM="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$NPM_STAMP" 2>/dev/null)" != "$NPM_SUM" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$NPM_SUM" > "$NPM_STAMP"
fi
