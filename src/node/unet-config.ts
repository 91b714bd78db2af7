/** Node-only: a UNet config from a preset name or a JSON file. */
import { open } from 'node:fs/promises';
import { DnfError } from '../errors.js';
import { isUnetPreset, MAX_CONFIG_BYTES, parseUnetConfigText, unetPreset, UNET_PRESETS, type UnetConfig } from '../models/unet-config.js';

/** `nameOrPath`: a preset ('lsun-bedroom-256', 'cifar10-32') or the path of a JSON config file. */
export async function loadUnetConfig(nameOrPath: string): Promise<UnetConfig> {
  if (isUnetPreset(nameOrPath)) return unetPreset(nameOrPath);
  const fix = `give a UNet preset (${Object.keys(UNET_PRESETS).join(', ')}) or the path of a JSON config file`;
  let text: string;
  try {
    const fh = await open(nameOrPath, 'r');
    try {
      // Read at most one byte past the limit, whatever stat says (a device or a pipe has no size).
      const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
      let n = 0;
      for (let got = -1; got !== 0 && n < buf.length; n += got) got = (await fh.read(buf, n, buf.length - n, null)).bytesRead;
      if (n > MAX_CONFIG_BYTES) throw new DnfError(`${nameOrPath}: more than ${MAX_CONFIG_BYTES} bytes, too long for a UNet config; ${fix}`);
      text = buf.toString('utf8', 0, n);
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof DnfError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : (e as Error).message;
    throw new DnfError(`${nameOrPath}: ${why}; ${fix}`);
  }
  return parseUnetConfigText(text, nameOrPath);
}
