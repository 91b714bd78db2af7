#!/usr/bin/env bash
# A whole training run of a real torchvision ResNet against PyTorch, outside the unit suite:
# tools/golden/train_step.py's tool mode writes the reference (initial state dict, batches, step-1
# loss and gradients, K Adam steps, final state dict, eval logits) and test/gpu/train-step.test.ts
# checks the engine against it with the same tolerances as the unit fixtures; then the trained
# weights go to PyTorch as a .pth (strict load, same eval-mode logits).
#
#   tools/train-check.sh [ARCH] [BATCH] [SIZE] [STEPS] [BACKENDS]
#   defaults: resnet50 4 64 3 opengles,swiftshader
#   e.g. tools/train-check.sh resnet18 64 256 1 opengles   (the reference batch, in chunks on GL)
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-resnet50}
batch=${2:-4}
size=${3:-64}
steps=${4:-3}
backends=${5:-opengles,swiftshader}
out=${TMPDIR:-/tmp}/dnf-train-$arch-b$batch-s$size-k$steps.safetensors
[ -f "$out" ] || /usr/bin/python3 tools/golden/train_step.py --arch "$arch" --batch "$batch" --size "$size" --steps "$steps" --out "$out"
node tools/embed-shaders.mjs
export_dir=$(mktemp -d)
DNF_TRAIN_GOLDEN=$out DNF_TRAIN_NET=$arch DNF_TRAIN_EXPORT=$export_dir DNF_TEST_BACKENDS=$backends npx vitest run test/gpu/train-step.test.ts
# The weights the engine trained, as a PyTorch checkpoint: torchvision loads them strictly and
# computes the engine's eval-mode logits.
/usr/bin/python3 tools/golden/check_pth.py "$export_dir/$arch.pth" --arch "$arch" --logits "$export_dir/$arch.case.safetensors"
rm -rf "$export_dir"
