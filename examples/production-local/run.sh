#!/bin/sh
# HIP-68's Kubernetes Deployment args, translated to a local command line.
#
# In the cluster the providers are kubernetesingress + kubernetescrd; locally the same routers come from the file
# provider (dynamic.yml). The other flags are the spec's, unchanged: web :8080, websecure :8443, metrics + ping on
# :9100, JSON access log on stdout, dashboard off. Run from the repository root after `make install`:
#   sh examples/production-local/run.sh
# then: curl http://whoami.localhost:8080/ ; curl http://127.0.0.1:9100/metrics ; curl http://127.0.0.1:9100/ping
#
# PROXY protocol: HIP-68's Service turns it on at the DigitalOcean load balancer
# (do-loadbalancer-enable-proxy-protocol), so web and websecure trust a header from the load balancer's network
# (10.0.0.0/8, the VPC) and, locally, from 127.0.0.1, which stands in for the load balancer. The header is optional,
# and a header from anyone else is read and ignored. Send what the load balancer sends, a PROXY v1 line:
#   printf 'PROXY TCP4 203.0.113.7 10.0.0.5 40000 80\r\nGET / HTTP/1.1\r\nHost: whoami.localhost\r\nConnection: close\r\n\r\n' \
#     | nc 127.0.0.1 8080
# whoami then shows X-Real-Ip and X-Forwarded-For 203.0.113.7, and so does the access log's ClientHost
# (curl --haproxy-protocol sends one too, naming curl's own address).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/.venv/bin/python" -m hanzo_edge.demo.whoami --port 8081 --name whoami-1 &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT INT TERM
"$root/.venv/bin/ingress" \
  --entrypoints.web.address=:8080 \
  --entrypoints.websecure.address=:8443 \
  --entrypoints.web.proxyProtocol.trustedIPs=10.0.0.0/8,127.0.0.1/32 \
  --entrypoints.websecure.proxyProtocol.trustedIPs=10.0.0.0/8,127.0.0.1/32 \
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
