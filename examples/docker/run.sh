#!/bin/sh
# HIP-68's Docker development setup, run here: a private Docker engine, two labelled containers and `ingress`.
#
#   sudo sh examples/docker/run.sh        (root: it starts dockerd; needs docker.io and busybox-static,
#                                          which scripts/sysdeps.sh installs; run `make install` first)
#
# then, in another terminal:
#   curl -H 'Host: a.localhost' http://127.0.0.1:8080/           -> whoami-a   (router label)
#   curl -H 'Host: whoami-b-docker' http://127.0.0.1:8080/       -> whoami-b   (defaultRule: Host(`{{ normalize .Name }}`),
#                                                                    .Name = <compose service>_<project>, normalized)
#   curl http://127.0.0.1:9090/api/http/routers                  -> both routers, @docker
#   docker -H unix://$DOCKER_ROOT/docker.sock stop whoami-a      -> a.localhost answers 404 within a moment
#
# The flags are compose.yml's, with one change explained there: the dashboard (--api.insecure) gets its own
# entrypoint on :9090, because the seed's implicit `traefik` entrypoint would take :8080, web's port.
# The engine is started as the integration tests start theirs (no iptables, no bridge, everything under a
# temporary directory); containers use host networking, so every address is on loopback. Ctrl-C stops ingress,
# removes the containers, stops the engine by its pid and removes its directories.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DOCKER_ROOT=${DOCKER_ROOT:-$(mktemp -d /tmp/hanzo-example-docker.XXXXXX)}
sock="$DOCKER_ROOT/docker.sock"
docker_cli=$(command -v /usr/bin/docker || command -v docker)
dk() { "$docker_cli" -H "unix://$sock" "$@"; }

dockerd --iptables=false --bridge=none --data-root "$DOCKER_ROOT/data" --exec-root "$DOCKER_ROOT/exec" \
  --pidfile "$DOCKER_ROOT/dockerd.pid" -H "unix://$sock" >"$DOCKER_ROOT/dockerd.log" 2>&1 &
engine=$!
ingress_pid=""
cleanup() {
  [ -n "$ingress_pid" ] && kill "$ingress_pid" 2>/dev/null || true
  dk rm -f whoami-a whoami-b >/dev/null 2>&1 || true
  kill "$engine" 2>/dev/null || true
  i=0; while kill -0 "$engine" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  grep " $DOCKER_ROOT/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$DOCKER_ROOT"
}
trap cleanup EXIT INT TERM

i=0; until dk version >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -gt 300 ] && { echo "dockerd did not start; see $DOCKER_ROOT/dockerd.log" >&2; exit 1; }
  sleep 0.1
done

# The image: /bin/busybox and the links the containers use, imported (nothing is pulled).
img="$DOCKER_ROOT/image"
mkdir -p "$img/bin"
cp /bin/busybox "$img/bin/busybox"
for link in sh httpd mkdir; do ln -sf busybox "$img/bin/$link"; done
tar -C "$img" -c . | dk import - local/busybox:test >/dev/null

# The two services of compose.yml, with the labels compose would add for project "docker".
dk run -d --init --name whoami-a --network host \
  -l com.docker.compose.project=docker -l com.docker.compose.service=whoami-a \
  -l traefik.enable=true \
  -l 'traefik.http.routers.whoami-a.rule=Host(`a.localhost`)' \
  -l traefik.http.routers.whoami-a.entrypoints=web \
  -l traefik.http.services.whoami-a.loadbalancer.server.port=18081 \
  local/busybox:test sh -c 'mkdir -p /w && echo whoami-a > /w/index.html && exec httpd -f -p 127.0.0.1:18081 -h /w' >/dev/null
dk run -d --init --name whoami-b --network host \
  -l com.docker.compose.project=docker -l com.docker.compose.service=whoami-b \
  -l traefik.enable=true \
  -l traefik.http.services.whoami-b.loadbalancer.server.port=18082 \
  local/busybox:test sh -c 'mkdir -p /w && echo whoami-b > /w/index.html && exec httpd -f -p 127.0.0.1:18082 -h /w' >/dev/null

echo "engine: unix://$sock (DOCKER_ROOT=$DOCKER_ROOT); ingress on :8080 (web), :8443 (websecure), :9090 (dashboard)"
"$root/.venv/bin/ingress" \
  --entrypoints.web.address=:8080 \
  --entrypoints.websecure.address=:8443 \
  --entrypoints.traefik.address=:9090 \
  --providers.docker=true \
  --providers.docker.endpoint="unix://$sock" \
  --providers.docker.exposedbydefault=false \
  --api.dashboard=true \
  --api.insecure=true \
  --accesslog=true \
  --accesslog.format=json &
ingress_pid=$!
wait "$ingress_pid"
