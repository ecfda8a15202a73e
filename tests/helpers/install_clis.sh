#!/usr/bin/env bash
# Installs the claude and codex CLIs from npm into a git-ignored cache for the net_clis tests.
# Idempotent: when both binaries are already there it returns at once without touching npm.
# Exit 0 also when npm is missing or the registry is unreachable: the tests then skip with the
# reason written to $PREFIX/install-error.txt.
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PREFIX="${LABCONSOLE_NPM_PREFIX:-$ROOT/.labconsole-cache/npm}"
CLAUDE_PKG="${LABCONSOLE_CLAUDE_PKG:-@anthropic-ai/claude-code}"
CODEX_PKG="${LABCONSOLE_CODEX_PKG:-@openai/codex}"
mkdir -p "$PREFIX"
ERR="$PREFIX/install-error.txt"

if [ -x "$PREFIX/node_modules/.bin/claude" ] && [ -x "$PREFIX/node_modules/.bin/codex" ]; then
    rm -f "$ERR"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "npm is not on PATH (install Node.js 18+ with npm)" > "$ERR"
    echo "install_clis: $(cat "$ERR")" >&2
    exit 0
fi
# --prefix keeps everything under the cache; no global install, no package.json in the repo.
if npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=30000 "$CLAUDE_PKG" "$CODEX_PKG" \
        > "$PREFIX/install.log" 2>&1; then
    rm -f "$ERR"
    echo "install_clis: claude and codex installed under $PREFIX" >&2
else
    { echo "npm install of $CLAUDE_PKG and $CODEX_PKG failed (registry unreachable?):";
      tail -n 5 "$PREFIX/install.log"; } > "$ERR"
    echo "install_clis: $(head -n 1 "$ERR")" >&2
fi
exit 0
