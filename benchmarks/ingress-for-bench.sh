#!/bin/sh
# Start `ingress` for ../shared/bench/run.py: PORT UPSTREAM(host:port) WORKDIR [extra ingress flags...]
# Routes through a file-provider router with a Host rule, as a real deployment does.
set -eu
port=$1; upstream=$2; workdir=$3; shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
cat > "$workdir/dynamic.yml" <<YAML
http:
  routers:
    bench:
      rule: Host(\`127.0.0.1\`)
      service: backend
  services:
    backend:
      loadBalancer:
        servers:
          - url: http://$upstream
YAML
# ROUTERS=N adds N-1 decoy host routers (svc-i.example.com), to measure lookup cost with a large table.
if [ "${ROUTERS:-1}" -gt 1 ]; then
  "$root/.venv/bin/python" - "$workdir/dynamic.yml" "$ROUTERS" "$upstream" <<'PY'
import sys
path, n, upstream = sys.argv[1], int(sys.argv[2]), sys.argv[3]
routers = [f"    decoy{i}:\n      rule: Host(`svc-{i}.example.com`)\n      service: backend" for i in range(n - 1)]
text = open(path).read().replace("  routers:\n", "  routers:\n" + "\n".join(routers) + "\n", 1)
open(path, "w").write(text)
PY
fi
# CHAIN=1 puts five cheap middlewares on the bench router (the issue-4 chain-cost benchmark).
if [ "${CHAIN:-0}" = 1 ]; then
  "$root/.venv/bin/python" - "$workdir/dynamic.yml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read().replace(
    "      service: backend\n  services:",
    "      service: backend\n      middlewares: [hdr, strip, allow, limit, retry]\n  services:",
)
text += """  middlewares:
    hdr:
      headers:
        customRequestHeaders: {X-Bench: "1"}
        customResponseHeaders: {X-Served-By: edge}
    strip:
      stripPrefix:
        prefixes: [/nothing-to-strip]
    allow:
      ipAllowList:
        sourceRange: [127.0.0.1/32]
    limit:
      rateLimit:
        average: 100000000
        burst: 100000000
    retry:
      retry:
        attempts: 2
"""
open(path, "w").write(text)
PY
fi
# HEADERS=1 puts one `headers` middleware on the bench router (the issue-22 "full product" row).
if [ "${HEADERS:-0}" = 1 ]; then
  "$root/.venv/bin/python" - "$workdir/dynamic.yml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read().replace(
    "      service: backend\n  services:",
    "      service: backend\n      middlewares: [hdr]\n  services:",
)
text += """  middlewares:
    hdr:
      headers:
        customResponseHeaders: {X-Served-By: edge}
        stsSeconds: 31536000
"""
open(path, "w").write(text)
PY
fi
# The build under test (benchmarks/compiled_tree.py): the compiled tree when it is fresh, unless PURE=1; a Python
# benchmark that already chose passes HANZO_EDGE_BUILD (and the PYTHONPATH that goes with it).
build=${HANZO_EDGE_BUILD:-}
if [ -z "$build" ]; then
  build=pure
  stamp="$root/build/compiled/stamp.json"
  if [ "${PURE:-0}" != 1 ] && [ -f "$stamp" ] && [ -z "$(find "$root/src" -name '*.py' -newer "$stamp" -print -quit)" ]; then
    build=compiled
    export PYTHONPATH="$root/build/compiled/src${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
echo "ingress-for-bench: build $build" >&2
exec "$root/.venv/bin/ingress" "--entrypoints.web.address=127.0.0.1:$port" \
  "--providers.file.filename=$workdir/dynamic.yml" --providers.file.watch=false "$@"
