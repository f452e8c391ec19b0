#!/usr/bin/env bash
# The README's first command: installs what this machine lacks, then generates a PNG with the
# bundled model (no model download). Usage: bash tools/quickstart.sh ["prompt"] [out.png]
set -euo pipefail
cd "$(dirname "$0")/.."
prompt="${1:-a photo of a red circle}"
out="${2:-image.png}"

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
# Dawn (the `webgpu` package) loads libvulkan.so.1.
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need+=(libvulkan1)
# No Vulkan driver at all (no GPU): SwiftShader's Vulkan ICD, which Debian ships with Chromium.
if ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1 && [ ! -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
  need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq "${need[@]}"
fi
[ -d node_modules/webgpu ] || npm ci --no-audit --no-fund
npm run --silent generate -- --prompt "$prompt" --out "$out"
echo "wrote $out"
