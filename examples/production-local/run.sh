#!/bin/sh
# HIP-68's Kubernetes Deployment args, translated to a local command line.
#
# In the cluster the providers are kubernetesingress + kubernetescrd; locally the same routers come from the file
# provider (dynamic.yml). The other flags are the spec's, unchanged: web :8080, websecure :8443, metrics + ping on
# :9100, JSON access log on stdout, dashboard off. Run from the repository root after `make install`:
#   sh examples/production-local/run.sh
# then: curl http://whoami.localhost:8080/ ; curl http://127.0.0.1:9100/metrics ; curl http://127.0.0.1:9100/ping
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/.venv/bin/python" -m hanzo_edge.demo.whoami --port 8081 --name whoami-1 &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT INT TERM
"$root/.venv/bin/ingress" \
  --entrypoints.web.address=:8080 \
  --entrypoints.websecure.address=:8443 \
  --entrypoints.metrics.address=:9100 \
  --providers.file.filename="$here/dynamic.yml" \
  --metrics.prometheus=true \
  --metrics.prometheus.entrypoint=metrics \
  --accesslog=true \
  --accesslog.format=json \
  --ping=true \
  --ping.entrypoint=metrics \
  --api.dashboard=false \
  --api.insecure=false
