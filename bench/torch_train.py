"""PyTorch side of bench/train.mjs: the same training step (forward, BCEWithLogits, backward, Adam)
of a torchvision ResNet on the same input size and batch, timed, for the ratio ours / torch.

Run: /usr/bin/python3 bench/torch_train.py --arch resnet50 --batch 64 --size 256 [--steps 1]
                                           [--device cpu]

Weights are torchvision's default initialisation (the speed does not depend on them). One warm-up
step at the timed batch size (allocator and oneDNN primitives), then `steps` timed ones; on a GPU
torch.cuda.synchronize() brackets them, with TF32 off so both sides compute in float32. Prints one
JSON object on stdout: seconds per step (wall clock and process CPU time), threads, version.
Without torch it prints {"error": ...} and exits with status 2.
"""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='resnet50')
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--steps', type=int, default=1)
    ap.add_argument('--device', default='cpu')
    args = ap.parse_args()
    try:
        import torch
        import torchvision
    except ImportError as e:
        print(json.dumps({'error': f'no torch: {e}'}))
        sys.exit(2)
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(num_classes=1).to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.rand(args.batch, 3, args.size, args.size, device=dev)
    y = (torch.arange(args.batch, device=dev) % 2).float()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x).squeeze(1), y)
        loss.backward()
        opt.step()
        return loss

    def sync():
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    step()
    sync()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync()
    wall = (time.perf_counter() - t0) / args.steps
    cpu = (time.process_time() - cpu0) / args.steps
    print(json.dumps({'s_per_step': wall, 'cpu_s_per_step': cpu, 'threads': torch.get_num_threads(),
                      'torch': torch.__version__, 'device': args.device, 'loss': float(loss)}))


if __name__ == '__main__':
    main()
