#!/usr/bin/env bash
# Installs the Debian packages the tests run for real (a real Prometheus, promtool,
# Alertmanager, amtool, and Chromium for the status page test). Only runs apt-get when
# something is missing, so a second run costs nothing.
set -euo pipefail

declare -A want=(
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [chromium]=chromium
)
missing=()
for cmd in "${!want[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${want[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing $pkgs; run as root or: sudo apt-get install $pkgs" >&2
  exit 1
fi
echo "deps: installing $pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >&2
