#!/usr/bin/env bash
# Every benchmark that matters on a real GPU, with PyTorch's same work beside it, in one call:
#
#   bench/gpu.sh [--quick]        (after npm ci; needs /usr/bin/python3 with torch for the ratios)
#
# Prints one JSON line per result on stdout (progress on stderr), in this order:
#   matmul       bench/matmul (ours) and torch_matmul (PyTorch, same sizes)
#   conv2d       bench/conv2d: every UNet 3x3 level, direct and Winograd, and torch_conv2d
#   unet         bench/unet at batch 1 and 8, 3x3 convolutions direct, direct reading
#                GroupNorm(x) as it loads (DNF_FUSE_NORM=on), direct with split-K
#                (DNF_SPLITK=auto), by Winograd, and by Winograd with every operand and
#                lane-varying input from texel mirrors (DNF_TEXELS=on DNF_LANE_TEXELS=on,
#                CPU adapters' way: whether the texture path pays on a GPU too): ours and
#                PyTorch's forward of the lsun-bedroom-256 UNet (synthetic weights), ratio and
#                max |diff| per batch
#   unet-f16     the same with --precision f16 where the adapter has shader-f16 (a line saying
#                why not otherwise)
#   extract      bench/extract: dnf extract on a folder of JPEGs against the UNet alone on the
#                same batches (ratio: the goal is within 1.10)
#   detect       bench/detect: decode + UNet + quantise + classifier on a folder, images/s
# Environment: BENCH_BACKEND (default vulkan; opengles or swiftshader try the script on a CPU
# adapter), BENCH_TORCH_DEVICE (default cuda; cpu beside a CPU adapter), BENCH_PYTHON
# (default /usr/bin/python3). --quick: small sizes and the cifar10-32 UNet, to check the script.
set -uo pipefail
cd "$(dirname "$0")/.."
backend="${BENCH_BACKEND:-vulkan}"
device="${BENCH_TORCH_DEVICE:-cuda}"
python="${BENCH_PYTHON:-/usr/bin/python3}"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
fail=0
step() { echo "bench/gpu.sh: $*" >&2; }
run() { "$@" || { fail=1; echo "{\"bench\":\"gpu.sh\",\"error\":\"failed: $*\"}"; }; }

if [ $quick = 1 ]; then
  sizes=256,512; shapes='1,32,64,64,32,3;1,64,32,32,64,3'; preset=cifar10-32; batches=1,2
else
  sizes=256,512,1024,2048
  shapes='1,128,256,256,128,3;1,128,128,128,128,3;1,256,64,64,256,3;1,256,32,32,256,3;1,512,16,16,512,3;1,512,8,8,512,3;8,512,16,16,512,3'
  preset=lsun-bedroom-256; batches=1,8
fi

step "build"; npm run build >/dev/null || exit 2
step "node $(node --version), backend $backend, torch on $device"
node -e "import('./dist/node/acquire.js').then(async (m) => { const g = await m.acquireGpu({ backend: '$backend' }); console.log(JSON.stringify({ bench: 'gpu.sh', adapter: g.adapter, backend: g.backend, features: g.features })); g.destroy(); })" || exit 2

step "matmul"
BENCH_SIZES=$sizes run node bench/run.mjs matmul --backend "$backend"
run "$python" bench/torch_ops.py --device "$device" --sizes "$sizes" --conv-shapes ''
step "conv2d"
BENCH_CONV_SHAPES="$shapes" run node bench/run.mjs conv2d --backend "$backend"
run "$python" bench/torch_ops.py --device "$device" --sizes '' --conv-shapes "$shapes"
for conv in direct direct+fusenorm direct+splitk winograd winograd+texels; do
  step "unet ($preset, batches $batches, 3x3 convolutions: $conv)"
  splitk=off; [ $conv = direct+splitk ] && splitk=auto
  fusenorm=off; [ $conv = direct+fusenorm ] && fusenorm=on
  texels=auto; lanes=auto; [ $conv = winograd+texels ] && texels=on && lanes=on
  DNF_CONV3X3=${conv%+*} DNF_SPLITK=$splitk DNF_FUSE_NORM=$fusenorm DNF_TEXELS=$texels DNF_LANE_TEXELS=$lanes BENCH_PRESET=$preset BENCH_BATCHES=$batches BENCH_REPS=3 BENCH_TORCH_DEVICE=$device BENCH_PYTHON=$python run node bench/run.mjs unet --backend "$backend"
done
step "unet f16"
if node -e "import('./dist/node/acquire.js').then(async (m) => { const g = await m.acquireGpu({ backend: '$backend' }); const ok = g.features.includes('shader-f16'); g.destroy(); process.exit(ok ? 0 : 1); })"; then
  echo '{"bench":"unet","precision":"f16","error":"not run: the engine has no f16 path yet (issue: --precision f16)"}'
else
  echo '{"bench":"unet","precision":"f16","error":"not run: the adapter has no shader-f16"}'
fi
step "extract ($preset)"
BENCH_PRESET=$preset BENCH_EXTRACT_IMAGES=$([ $quick = 1 ] && echo 8 || echo 64) run node bench/run.mjs extract --backend "$backend"
step "detect"
if [ $quick = 1 ]; then
  echo '{"bench":"detect","error":"not run with --quick (it needs the 256x256 UNet weights)"}'
else
  [ -f /tmp/dnf-unet-full/weights.safetensors ] || "$python" tools/golden/unet_full.py /tmp/dnf-unet-full >&2
  BENCH_DETECT_IMAGES=16 run node bench/run.mjs detect --backend "$backend"
fi
exit $fail
