#!/usr/bin/env bash
# dnf train -> best.safetensors -> dnf convert -> torchvision, on a real torchvision ResNet:
#   tools/train-detect-check.sh [arch] [size] [count] [steps] [backend]   (defaults resnet18 64 96 10 opengles)
# 1. tools/golden/train_loop.py (tool mode) writes a DNF-like data set and a PyTorch-written init.pth;
# 2. dnf train from that init for `steps` steps (shuffled, flipped: the defaults);
# 3. dnf convert best.safetensors -o best.pth; check_pth.py: torch.load(weights_only=True), torchvision
#    <arch>(num_classes=1).load_state_dict(strict=True), and the probabilities of the validation images
#    computed by PyTorch from best.pth equal `dnf detect --from-dnf`'s within 1e-4.
# Needs `npm run build` and Debian's python3-torch (/usr/bin/python3). Prints the checks' lines.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-resnet18}; SIZE=${2:-64}; COUNT=${3:-96}; STEPS=${4:-10}; BACKEND=${5:-opengles}
PY=${PYTHON:-/usr/bin/python3}
DIR=$(mktemp -d /tmp/dnf-train-detect.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
"$PY" - "$ARCH" "$SIZE" "$COUNT" "$DIR/data" <<'PY'
import os, sys, torch
sys.path.insert(0, 'tools/golden')
import train_loop as T
arch, size, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
g = torch.Generator().manual_seed(T.DATA_SEED)
T.write_images(out, 'train', (count // 2, count - count // 2), size, g)
T.write_images(out, 'val', (16, 16), size, g)
torch.save({'model': T.torchvision_net(arch).state_dict()}, os.path.join(out, 'init.pth'))
PY
node bin/dnf.js --backend "$BACKEND" train "$DIR/data/train" --val "$DIR/data/val" -o "$DIR/run" --init "$DIR/data/init.pth" \
  --image-size "$SIZE" --batch-size 16 --max-steps "$STEPS" 2>&1 | grep '^train: ' | tail -2
node bin/dnf.js convert "$DIR/run/best.safetensors" -o "$DIR/run/best.pth" 2>&1 | grep -v '^Warning' | tail -1
node bin/dnf.js --backend "$BACKEND" detect "$DIR/data/val" --from-dnf --classifier "$DIR/run/best.safetensors" --json > "$DIR/detect.jsonl" 2>/dev/null
"$PY" tools/golden/check_pth.py "$DIR/run/best.pth" --arch "$ARCH" --detect "$DIR/detect.jsonl" --size "$SIZE"
