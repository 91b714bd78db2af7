"""PyTorch side of bench/unet.mjs: the same UNet forward, timed, for the ratio ours / torch.

Run: /usr/bin/python3 bench/torch_unet.py --config JSON [--batch 1] [--reps 1] [--device cpu]
                                          [--eps-out FILE]

The model is tools/golden/unet.py's Model (the reference architecture) with its `synth` weights,
the same values bench/lib/random-weights.mjs generates; the input is synth('x', [n]) * 10 in
float32 and t = 0, as on the bench's side. One warm-up forward, then `reps` timed ones
(torch.cuda.synchronize() around them on a GPU, with TF32 off so both sides compute in float32).
Prints one JSON object on stdout; --eps-out writes the last eps as raw little-endian float32.
Without torch it prints {"error": ...} and exits with status 2.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools', 'golden'))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', required=True, help='the UnetConfig as JSON')
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--reps', type=int, default=1)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--eps-out')
    args = ap.parse_args()
    try:
        import torch
        from unet import Model, synth, synthesize
    except ImportError as e:
        print(json.dumps({'error': f'{sys.executable}: {e}'}))
        sys.exit(2)

    c = json.loads(args.config)
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    keys = ('ch', 'out_ch', 'ch_mult', 'num_res_blocks', 'attn_resolutions', 'in_channels', 'resolution', 'resamp_with_conv')
    model = synthesize(Model(**{k: c[k] for k in keys})).eval().to(device)
    r = c['resolution']
    shape = [args.batch, c['in_channels'], r, r]
    x = (synth('x', [args.batch * c['in_channels'] * r * r]) * 10).reshape(shape).to(device)
    t = torch.zeros(args.batch, dtype=torch.long, device=device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    times, cpu = [], 0.0
    with torch.no_grad():
        eps = model(x, t)  # warm-up
        sync()
        for _ in range(args.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            eps = model(x, t)
            sync()
            times.append(time.perf_counter() - t0)
            cpu += time.process_time() - c0
    if args.eps_out:
        eps.float().cpu().numpy().astype('<f4').tofile(args.eps_out)
    print(json.dumps({
        'torch_version': torch.__version__,
        'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
        'threads': threads,
        'batch': args.batch,
        'times_s': times,
        's_per_image': sum(times) / len(times) / args.batch,
        'cpu_s': cpu,
    }))


if __name__ == '__main__':
    main()
