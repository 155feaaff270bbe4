#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only when they are missing.
set -euo pipefail
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)  # distributed rate-limit tests
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)  # HTTP/2 load (benchmarks/h2_bench.py)
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)  # validates the fake Kubernetes API server; kustomize renders deploy/kubernetes
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # headless dashboard test
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)  # Docker provider engine tests
test -x /bin/busybox || need+=(busybox-static)  # the Docker tests' local image
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # `openssl s_client` against the ZAP listener
command -v gcc >/dev/null 2>&1 || need+=(gcc)  # mypyc's compiled hot path (scripts/build_compiled.py, make test-compiled)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
  || need+=(python3-dev)  # its Python headers (a pyenv or python.org build ships its own)
if ((${#need[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "sysdeps: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
