#!/usr/bin/env bash
# Installs what the build and the tests need from Debian: clang 16 and lld (the CPU backend's
# WASM kernels, kernels/wasm/*.c, are compiled by build.mjs), Mesa's software Vulkan driver
# (lavapipe) from bookworm-backports (bookworm's own Mesa is too old for Dawn; the backports
# source is derived from the machine's configured Debian source, so no mirror address is written
# here), and Debian's Chromium for the browser tests.
set -euo pipefail
have_vulkan() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg -s libvulkan1 >/dev/null 2>&1 \
    && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q bpo
}
have_clang() { command -v clang-16 >/dev/null 2>&1 && [ -x /usr/lib/llvm-16/bin/wasm-ld ]; }
if have_vulkan && [ -x /usr/bin/chromium ] && have_clang; then
  echo "lavapipe (bookworm-backports), chromium and clang 16 already installed"; exit 0
fi
src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ! -f "$dst" ]; then
  # first stanza of the existing source, with Suites: changed
  awk 'BEGIN{RS="";ORS="\n\n"} NR==1{print; exit}' "$src" \
    | sed -E 's/^Suites:.*/Suites: bookworm-backports/' > "$dst"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
have_vulkan || apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
[ -x /usr/bin/chromium ] || apt-get install -y -qq chromium >/dev/null
have_clang || apt-get install -y -qq clang-16 lld-16 >/dev/null
echo "installed: $(dpkg-query -W -f='${Package} ${Version}' mesa-vulkan-drivers), $(/usr/bin/chromium --version), $(clang-16 --version | head -1)"
