#!/usr/bin/env bash
# Installs the Debian packages decodesim builds against, only those missing.
set -euo pipefail
pkgs=(cmake g++ make libeigen3-dev nlohmann-json3-dev libcli11-dev libfmt-dev catch2 gnuplot-nox pybind11-dev python3-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
