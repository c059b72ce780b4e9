#!/usr/bin/env bash
# Install the Debian packages a target needs when their commands are missing.
# Usage: scripts/install-sysdeps.sh test|bench
set -euo pipefail

declare -A pkg_for=(
  [curl]=curl
  [aria2c]=aria2
  [nginx]=nginx-light
  [wrk]=wrk
  [ffmpeg]=ffmpeg
  [ffprobe]=ffmpeg
  [chromium]=chromium
  [logrotate]=logrotate
  [openssl]=openssl
  [haproxy]=haproxy
)
case "${1:-test}" in
  # ffmpeg/ffprobe and chromium: the edge's end-to-end tests play and probe signed video;
  # logrotate: the shipped logrotate file is run against castedge's access log;
  # haproxy and nginx: a region's edges behind the balancer configs of docs/scaling.md;
  # nginx and wrk: the benchmark suite's own test runs it in seconds.
  test) wanted=(curl aria2c ffmpeg ffprobe chromium logrotate haproxy nginx wrk) ;;
  # openssl: the HTTPS benchmark checks the negotiated protocol and cipher with s_client.
  bench) wanted=(curl nginx wrk openssl) ;;
  *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac

missing=()
for cmd in "${wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${pkg_for[$cmd]}")
done
# ffmpeg provides both ffmpeg and ffprobe: ask for each package once.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
