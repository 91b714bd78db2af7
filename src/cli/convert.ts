/** `dnf convert`: a PyTorch checkpoint (.pth/.pt/.ckpt/.bin) or diffusers UNet to safetensors, without running its code. */
import type { Command } from 'commander';
import { convertCheckpoint, defaultOutputPath, formatSummary } from '../node/convert.js';

interface Opts { output?: string; key?: string; keepIntegers?: boolean; keepDtype?: boolean; keepNames?: boolean; overwrite?: boolean }

export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a PyTorch checkpoint (.pth/.pt/.ckpt/.bin, zip or legacy format) to safetensors; its pickle is read, never executed. A diffusers DDPM UNet (.bin or .safetensors) gets the reference tensor names')
    .argument('<checkpoint>', 'the PyTorch checkpoint (or diffusers .safetensors) to read')
    .option('-o, --output <file>', 'the .safetensors file to write (default: the input path with .safetensors, or .dnf.safetensors for a .safetensors input)')
    .option('--key <path>', "where the state dict is, e.g. model, state_dict, ema, or 4 for the 5th item of a list; '/' between levels (default: found automatically)")
    .option('--keep-integers', 'also keep integer and bool tensors (num_batches_tracked is always dropped)')
    .option('--keep-dtype', 'keep float16/bfloat16/float64 tensors as they are instead of converting them to float32')
    .option('--keep-names', 'keep the tensor names of a diffusers UNet2DModel (by default they become the reference DDPM names)')
    .option('--overwrite', 'replace the output file if it exists')
    .action(async (input: string, opts: Opts) => {
      const summary = await convertCheckpoint(input, opts.output ?? defaultOutputPath(input), opts);
      console.log(`converted ${formatSummary(summary)}`);
    });
}
