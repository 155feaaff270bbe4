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
exec "$root/.venv/bin/ingress" "--entrypoints.web.address=127.0.0.1:$port" \
  "--providers.file.filename=$workdir/dynamic.yml" --providers.file.watch=false "$@"
