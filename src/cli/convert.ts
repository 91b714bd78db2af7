/**
 * `dnf convert`: a PyTorch checkpoint (.pth/.pt/.ckpt/.bin) or diffusers UNet to safetensors, without
 * running its code; or, for an output ending in .pth/.pt, any of these (e.g. a trainer's
 * safetensors) to a PyTorch checkpoint that torch.load and load_state_dict(strict=True) accept.
 */
import type { Command } from 'commander';
import { convertCheckpoint, defaultOutputPath, formatSummary, isTorchOutputPath } from '../node/convert.js';

interface Opts { output?: string; key?: string; keepIntegers?: boolean; keepDtype?: boolean; keepNames?: boolean; overwrite?: boolean }

export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a PyTorch checkpoint (.pth/.pt/.ckpt/.bin, zip or legacy format) to safetensors; its pickle is read, never executed. A diffusers DDPM UNet (.bin or .safetensors) gets the reference tensor names. ' +
      "An output ending in .pth/.pt is written as torch.save({'model': state_dict}) in PyTorch's zip format instead, integer tensors included (num_batches_tracked of a safetensors input as well)")
    .argument('<checkpoint>', 'the PyTorch checkpoint (or diffusers .safetensors) to read')
    .option('-o, --output <file>', 'the .safetensors file to write, or a .pth/.pt PyTorch checkpoint (default: the input path with .safetensors, or .dnf.safetensors for a .safetensors input)')
    .option('--key <path>', "where the state dict is, e.g. model, state_dict, ema, or 4 for the 5th item of a list; '/' between levels (default: found automatically). " +
      "For a .pth/.pt output: the key to save it under instead (default model; '' for a bare state dict)")
    .option('--keep-integers', 'also keep integer and bool tensors (num_batches_tracked is always dropped from a safetensors output)')
    .option('--keep-dtype', 'keep float16/bfloat16/float64 tensors as they are instead of converting them to float32')
    .option('--keep-names', 'keep the tensor names of a diffusers UNet2DModel (by default they become the reference DDPM names)')
    .option('--overwrite', 'replace the output file if it exists')
    .action(async (input: string, opts: Opts) => {
      const output = opts.output ?? defaultOutputPath(input);
      const { key, ...rest } = opts;
      const summary = await convertCheckpoint(input, output, isTorchOutputPath(output) ? { ...rest, outputKey: key } : opts);
      console.log(`converted ${formatSummary(summary)}`);
    });
}
