/** Node-only: a UNet config from a preset name or a JSON file. */
import { readFile } from 'node:fs/promises';
import { DnfError } from '../errors.js';
import { isUnetPreset, parseUnetConfig, unetPreset, UNET_PRESETS, type UnetConfig } from '../models/unet-config.js';

/** `nameOrPath`: a preset ('lsun-bedroom-256', 'cifar10-32') or the path of a JSON config file. */
export async function loadUnetConfig(nameOrPath: string): Promise<UnetConfig> {
  if (isUnetPreset(nameOrPath)) return unetPreset(nameOrPath);
  let text: string;
  try {
    text = await readFile(nameOrPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : (e as Error).message;
    throw new DnfError(`${nameOrPath}: ${why}; give a UNet preset (${Object.keys(UNET_PRESETS).join(', ')}) or the path of a JSON config file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DnfError(`${nameOrPath}: not valid JSON (${(e as Error).message}); fix the file or use a preset`);
  }
  return parseUnetConfig(json, nameOrPath);
}
