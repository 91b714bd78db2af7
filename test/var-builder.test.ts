/** VarBuilder: prefixed keys, shape checks, and one error listing every problem (src/weights/var-builder.ts). */
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { bytesSource, SafetensorsFile, serializeSafetensors, type TensorToWrite } from '../src/weights/safetensors.js';
import { VarBuilder } from '../src/weights/var-builder.js';

const f32 = (name: string, shape: number[], fill = 1): TensorToWrite => ({
  name, dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill),
});

async function builder(tensors: TensorToWrite[]): Promise<VarBuilder> {
  const file = await SafetensorsFile.open(bytesSource('ckpt.safetensors', serializeSafetensors(tensors)));
  return VarBuilder.fromSafetensors({} as Gpu, file); // get() never touches the GPU
}

describe('VarBuilder', () => {
  it('joins prefixes like the state-dict keys and reads float dtypes as f32', async () => {
    const half = { name: 'down.0.block.1.conv1.bias', dtype: 'F16' as const, shape: [2], data: new Uint16Array([0x3c00, 0xc000]) };
    const vb = await builder([f32('down.0.block.1.conv1.weight', [2, 1, 1, 1], 0.5), half]);
    const conv = vb.pp('down').pp(0).pp('block').pp(1).pp('conv1');
    expect(conv.key('weight')).toBe('down.0.block.1.conv1.weight');
    expect(conv.contains('weight')).toBe(true);
    expect(conv.contains('nin')).toBe(false);
    expect(await conv.get('weight', [2, 1, 1, 1])).toEqual(new Float32Array([0.5, 0.5]));
    expect(await conv.get('bias', [2])).toEqual(new Float32Array([1, -2]));
    expect(() => vb.finish()).not.toThrow();
  });

  it('collects missing, mis-shaped and unused keys into one error naming the file', async () => {
    const vb = await builder([
      f32('conv_in.weight', [4, 3, 3, 3]),
      f32('conv_in.bias', [5]),
      { name: 'norm_out.weight', dtype: 'I64', shape: [4], data: new BigInt64Array(4) },
      f32('logvar', [1000]),
    ]);
    const conv = vb.pp('conv_in');
    expect(await conv.get('weight', [4, 3, 3, 3])).toEqual(new Float32Array(108).fill(1));
    // Problems return zeros so that the build goes on and finds every other problem.
    expect(await conv.get('bias', [4])).toEqual(new Float32Array(4));
    expect(await vb.pp('norm_out').get('weight', [4])).toEqual(new Float32Array(4));
    expect(await vb.pp('norm_out').get('bias', [4])).toEqual(new Float32Array(4));
    expect(await vb.pp('temb').pp('dense').pp(0).get('weight', [2, 2])).toEqual(new Float32Array(4));
    const finish = () => vb.finish('the tiny model');
    expect(finish).toThrow(DnfError);
    expect(finish).toThrow(
      'ckpt.safetensors: the checkpoint does not fit the tiny model: ' +
        '2 missing (norm_out.bias [4], temb.dense.0.weight [2,2]); ' +
        '2 mis-shaped (conv_in.bias [5] should be [4], norm_out.weight has dtype I64, not a float); ' +
        '1 unused (logvar); check that the checkpoint and the model config belong together',
    );
  });

  it('shortens long lists to the first 5 and a count, and long or odd names to 80 printable characters', async () => {
    const vb = await builder(Array.from({ length: 25 }, (_, i) => f32(`extra.${i}`, [1])));
    expect(() => vb.finish()).toThrow('25 unused (extra.0, extra.1, extra.2, extra.3, extra.4 and 20 more);');
    const odd = await builder([f32(`x\n${'y'.repeat(200)}`, [1])]);
    expect(() => odd.finish()).toThrow(`1 unused (x?${'y'.repeat(78)}...);`);
  });

  it('check() finds the same problems from the header alone, before anything is read', async () => {
    const vb = await builder([f32('conv_in.weight', [4, 3, 3, 3]), f32('conv_in.bias', [5]), f32('logvar', [1000])]);
    expect(() => vb.check([['conv_in.weight', [4, 3, 3, 3]], ['conv_in.bias', [4]], ['conv_out.bias', [3]]], 'the tiny model')).toThrow(
      'ckpt.safetensors: the checkpoint does not fit the tiny model: 1 missing (conv_out.bias [3]); 1 mis-shaped (conv_in.bias [5] should be [4]); 1 unused (logvar); check',
    );
    expect(() => vb.pp('conv_in').check([['weight', [4, 3, 3, 3]], ['bias', [5]]])).toThrow('1 unused (logvar)');
    expect(vb.pp('conv_in').shapeOf('weight')).toEqual([4, 3, 3, 3]);
    expect(vb.shapeOf('nothing')).toBeUndefined();
  });
});
