/**
 * The UNet of the pipeline: which config its weights get, checked against their header before a
 * GPU is touched, and loading it. The config is the one given (a preset name or a UnetConfig),
 * else the one the weights record (`unet_config` metadata, as `dnf weights fetch` writes), else
 * the one their tensor shapes imply (src/models/unet-infer.ts). Browser-safe.
 */
import { DdpmUnet } from '../models/ddpm-unet.js';
import { isUnetPreset, parseUnetConfig, unetConfigFromMetadata, unetPreset, UNET_PRESETS, type UnetConfig } from '../models/unet-config.js';
import { checkConfigFits, inferUnetConfig } from '../models/unet-infer.js';
import { checkUnetWeights } from '../models/unet-layout.js';
import { DnfError } from '../errors.js';
import type { Gpu } from '../gpu/gpu.js';
import type { SafetensorsFile } from '../weights/safetensors.js';

/** A config the caller chose, and how to name it in errors ('--model-config cifar10-32', 'unetConfig "cifar10-32"'). */
export interface GivenUnetConfig {
  config: UnetConfig;
  /** How the user gave it, for the one-line refusal: '--model-config lsun-bedroom-256'. */
  name: string;
  /** What to do when it does not fit the weights. */
  fix: string;
}

export interface UnetChoice {
  config: UnetConfig;
  /** Where the config comes from, for errors ('preset lsun-bedroom-256', a file's path, 'its metadata unet_config'). */
  configName: string;
  /** A line for the user when the config is a guess in part (the resolution of inferred weights). */
  note?: string;
}

/** A preset name or a UnetConfig (validated as a config file is), as the library takes it; a DnfError for an unknown preset. */
export function givenUnetConfig(config: string | UnetConfig): GivenUnetConfig {
  const fix = 'leave unetConfig out to use the weights\' own, or give the matching config';
  if (typeof config !== 'string') return { config: parseUnetConfig(config, 'the unetConfig given'), name: 'the unetConfig given', fix };
  if (!isUnetPreset(config)) throw new DnfError(`unetConfig "${config}" is no UNet preset (presets: ${Object.keys(UNET_PRESETS).join(', ')}); give a preset name or a UnetConfig object`);
  return { config: unetPreset(config), name: `unetConfig "${config}"`, fix };
}

/**
 * The config for `file`'s UNet (see the header), checked against its header: a DnfError naming
 * the file and both configs when they disagree. `given.name` is also what errors call it.
 */
export function chooseUnetConfig(file: SafetensorsFile, given?: GivenUnetConfig & { configName?: string }): UnetChoice {
  const name = file.source.name;
  if (given) {
    const configName = given.configName ?? given.name;
    checkConfigFits(given.config, file, given.name, given.fix);
    return { config: given.config, configName };
  }
  const recorded = unetConfigFromMetadata(file.metadata, name);
  if (recorded) {
    checkUnetWeights(recorded, file, 'its metadata unet_config');
    return { config: recorded, configName: 'its metadata unet_config' };
  }
  const inferred = inferUnetConfig(file);
  const configName = inferred.preset ? `preset ${inferred.preset}, read from the tensor shapes` : 'the config read from the tensor shapes';
  checkUnetWeights(inferred.config, file, configName);
  const note = inferred.resolutionGuessed
    ? `${name}: no UNet config recorded; its tensor shapes give ch ${inferred.config.ch}, ch_mult [${inferred.config.ch_mult}], and resolution ${inferred.config.resolution} is taken from ${inferred.resolutionFrom}: pass the model config if it was trained at another size`
    : undefined;
  return { config: inferred.config, configName, note };
}

/** The UNet on `gpu`, read tensor by tensor from `file` with the chosen config. */
export function loadUnetFrom(gpu: Gpu, file: SafetensorsFile, choice: UnetChoice): Promise<DdpmUnet> {
  return DdpmUnet.fromSafetensors(gpu, choice.config, file, choice.configName);
}
