// The tiny UNet of the tests on disk for the standalone benchmarks (bench/soak, bench/scale): config
// and tensor layout from the golden fixture test/fixtures/golden/unet.safetensors, synthetic
// weights (tools/synth-weights.mjs), written into `dir`. Returns the dnf CLI's model arguments.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSafetensors, writeSafetensorsFile } from '../../dist/node/files.js';
import { synth } from '../../tools/synth-weights.mjs';

const repo = fileURLToPath(new URL('../..', import.meta.url));

export async function writeTinyUnet(dir) {
  const golden = await openSafetensors(join(repo, 'test', 'fixtures', 'golden', 'unet.safetensors'));
  const layout = JSON.parse(golden.file.metadata.keys);
  const config = join(dir, 'tiny-unet.json');
  await writeFile(config, golden.file.metadata.config);
  await golden.close();
  const unet = join(dir, 'tiny-unet.safetensors');
  await writeSafetensorsFile(unet, layout.map(([name, shape]) => ({ name, dtype: 'F32', shape, data: synth(name, shape) })));
  return { unet, config };
}
