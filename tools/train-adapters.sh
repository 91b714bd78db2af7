#!/usr/bin/env bash
# The reference batch (64 images of 256x256) through one ResNet training step on both CPU adapters:
# on the GL adapter (128 MiB storage bindings) the batch runs in chunks, on SwiftShader (1 GiB) in
# one piece. Each is checked against PyTorch (test/gpu/train-step.test.ts, step 1), and then the
# two adapters' losses and gradients against each other.
#
#   tools/train-adapters.sh [ARCH] [BATCH] [SIZE]      defaults: resnet18 64 256
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-resnet18}
batch=${2:-64}
size=${3:-256}
out=${TMPDIR:-/tmp}/dnf-train-$arch-b$batch-s$size-k1.safetensors
[ -f "$out" ] || /usr/bin/python3 tools/golden/train_step.py --arch "$arch" --batch "$batch" --size "$size" --steps 1 --out "$out"
node tools/embed-shaders.mjs
dump=$(mktemp -d)/step
for backend in opengles swiftshader; do
  DNF_TRAIN_GOLDEN=$out DNF_TRAIN_NET=$arch DNF_TRAIN_DUMP=$dump DNF_TEST_BACKENDS=$backend npx vitest run test/gpu/train-step.test.ts -t 'one step'
done
/usr/bin/python3 - "$dump-opengles.safetensors" "$dump-swiftshader.safetensors" <<'PY'
import json, struct, sys
import numpy as np
def read(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    meta = h.pop('__metadata__', {})
    return meta, {k: np.frombuffer(data[v['data_offsets'][0]:v['data_offsets'][1]], dtype=np.float32) for k, v in h.items()}
(ma, a), (mb, b) = read(sys.argv[1]), read(sys.argv[2])
worst = max(((np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-30), k) for k in a if k != 'loss'))
print(f"GL (chunks of {ma['chunk_images']}) vs SwiftShader (chunks of {mb['chunk_images']}): "
      f"|loss diff| {abs(a['loss'][0] - b['loss'][0]):.2e}, worst gradient {worst[0]:.2e} ({worst[1]})")
PY
