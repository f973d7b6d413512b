#!/usr/bin/env bash
# Install the Debian packages the build, the tests and the demo need -- only the missing ones.
# Runs apt-get (update first) when something is missing; needs root or sudo for that.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config
  libcjson-dev libcmocka-dev zlib1g-dev libssl-dev
  libevent-dev libcurl4-openssl-dev libsqlite3-dev
  python3 python3-pytest python3-requests python3-jwt
  curl tzdata wrk prometheus
  valgrind
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing missing packages: ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
