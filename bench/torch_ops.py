"""PyTorch's side of bench/matmul and bench/conv2d: the same products, timed on one device.

Run: /usr/bin/python3 bench/torch_ops.py [--device cpu|cuda] [--sizes 256,1024,...]
                                        [--conv-shapes "N,Cin,H,W,Cout,k[,stride[,padding]];..."]

Prints one JSON line per result: {"bench": "torch_matmul" | "torch_conv2d", "size" | "shape",
"ms", "gflops", "device", "torch"}, with FLOPs counted as bench/matmul and bench/conv2d count
them (2 n^3; 2 N Cout Cin k^2 Ho Wo). One warm-up, then the best of three timings of `reps`
calls, torch.cuda.synchronize() around them on a GPU, TF32 off (float32 on both sides).
Without torch it prints {"error": ...} and exits with status 2.
"""
import argparse
import json
import sys
import time

CONV = '1,128,256,256,128,3;1,128,128,128,128,3;1,256,64,64,256,3;1,256,32,32,256,3;1,512,16,16,512,3;1,512,8,8,512,3;1,256,64,64,512,1;1,128,256,256,128,3,2,down'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--sizes', default='256,512,1024,2048')
    ap.add_argument('--conv-shapes', default=CONV)
    ap.add_argument('--reps', type=int, default=3)
    args = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(json.dumps({'error': f'{sys.executable}: {e}'}))
        sys.exit(2)
    dev = torch.device(args.device)
    if dev.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'

    def sync():
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    def best(f):
        f()
        sync()
        b = float('inf')
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(args.reps):
                f()
            sync()
            b = min(b, (time.perf_counter() - t0) / args.reps)
        return b

    with torch.no_grad():
        for n in [int(s) for s in args.sizes.split(',') if s]:
            a = torch.randn(n, n, device=dev)
            b = torch.randn(n, n, device=dev)
            s = best(lambda: a @ b)
            print(json.dumps({'bench': 'torch_matmul', 'size': n, 'ms': s * 1e3, 'gflops': 2 * n ** 3 / s / 1e9, 'device': name, 'torch': torch.__version__}))
        for spec in [s for s in args.conv_shapes.split(';') if s]:
            f = spec.split(',')
            n, cin, h, w, cout, k = map(int, f[:6])
            stride = int(f[6]) if len(f) > 6 else 1
            pad = f[7] if len(f) > 7 else 'same'
            x = torch.randn(n, cin, h, w, device=dev)
            wt = torch.randn(cout, cin, k, k, device=dev) / (cin * k * k) ** 0.5
            bias = torch.randn(cout, device=dev)
            if pad == 'down':
                run = lambda: F.conv2d(F.pad(x, (0, 1, 0, 1)), wt, bias, stride=2)
            else:
                p = (k - 1) // 2 if pad == 'same' else 0
                run = lambda: F.conv2d(x, wt, bias, stride=stride, padding=p)
            y = run()
            s = best(run)
            flop = 2 * n * cout * cin * k * k * y.shape[2] * y.shape[3]
            print(json.dumps({'bench': 'torch_conv2d', 'shape': spec, 'ms': s * 1e3, 'gflops': flop / s / 1e9, 'device': name, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
