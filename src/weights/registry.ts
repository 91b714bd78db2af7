/**
 * The published checkpoints of the DDPM "simple" UNet (reference/dnf-pipeline.md section 2) that
 * `dnf weights fetch <name>` knows how to get: the DDIM authors' mirror of the DDPM weights
 * (converted from the original TensorFlow release to PyTorch state dicts). Names, files, MD5s and
 * addresses are those of the DDIM repository (ermongroup/ddim, functions/ckpt_util.py).
 * Browser-safe: data only.
 */
import { DnfError } from '../errors.js';

export interface WeightsEntry {
  /** The name on the command line; the converted file is `<name>.safetensors`. */
  readonly name: string;
  /** The checkpoint's path in the authors' archive (where the DDIM code caches it). */
  readonly file: string;
  /** MD5 of the checkpoint file, lower-case hex. */
  readonly md5: string;
  /** Where to download it, tried in order. */
  readonly urls: readonly string[];
  /** The UNet config preset it needs (src/models/unet-config.ts). */
  readonly config: 'lsun-bedroom-256' | 'cifar10-32';
  /** Number of weights (float32 in the checkpoint: about 4 bytes each). */
  readonly parameters: number;
  /** The checkpoint file's size in bytes: downloads announcing or sending another size are refused. */
  readonly bytes: ByteRange;
  /** What it is, in a few words. */
  readonly description: string;
}

/** A file size in bytes, from min to max (equal when the exact size is known). */
export interface ByteRange {
  readonly min: number;
  readonly max: number;
}

/**
 * The size of a float32 state-dict checkpoint of `parameters` weights: at least their 4 bytes each;
 * at most that plus the pickle and archive records around them (a few hundred bytes per tensor:
 * under 1 MiB for the UNet's ~400 tensors) with a margin of 1/64 of the data.
 */
export function float32CheckpointBytes(parameters: number): ByteRange {
  const data = 4 * parameters;
  return { min: data, max: data + Math.ceil(data / 64) + 2 ** 20 };
}

/** The checkpoint DNF uses. */
export const DEFAULT_WEIGHTS = 'lsun_bedroom';

const LSUN_PARAMETERS = 113_673_219;
const CIFAR10_PARAMETERS = 35_746_307;
const heibox = (id: string) => `https://heibox.uni-heidelberg.de/f/${id}/?dl=1`;

export const WEIGHTS: readonly WeightsEntry[] = [
  {
    name: 'lsun_bedroom', file: 'diffusion_lsun_bedroom_model/model-2388000.ckpt', md5: 'f70280ac0e08b8e696f42cb8e948ff1c',
    urls: [heibox('f179d4f21ebc4d43bbfe')], config: 'lsun-bedroom-256', parameters: LSUN_PARAMETERS, bytes: float32CheckpointBytes(LSUN_PARAMETERS),
    description: 'DDPM LSUN bedroom 256x256, the UNet of DNF',
  },
  {
    name: 'ema_lsun_bedroom', file: 'ema_diffusion_lsun_bedroom_model/model-2388000.ckpt', md5: '1921fa46b66a3665e450e42f36c2720f',
    urls: [heibox('b95206528f384185889b')], config: 'lsun-bedroom-256', parameters: LSUN_PARAMETERS, bytes: float32CheckpointBytes(LSUN_PARAMETERS),
    description: 'DDPM LSUN bedroom 256x256, EMA weights',
  },
  {
    name: 'lsun_church', file: 'diffusion_lsun_church_model/model-4432000.ckpt', md5: 'eb619b8a5ab95ef80f94ce8a5488dae3',
    urls: [heibox('2711a6f712e34b06b9d8')], config: 'lsun-bedroom-256', parameters: LSUN_PARAMETERS, bytes: float32CheckpointBytes(LSUN_PARAMETERS),
    description: 'DDPM LSUN church 256x256',
  },
  {
    name: 'ema_lsun_church', file: 'ema_diffusion_lsun_church_model/model-4432000.ckpt', md5: 'fdc68a23938c2397caba4a260bc2445f',
    urls: [heibox('44ccb50ef3c6436db52e')], config: 'lsun-bedroom-256', parameters: LSUN_PARAMETERS, bytes: float32CheckpointBytes(LSUN_PARAMETERS),
    description: 'DDPM LSUN church 256x256, EMA weights',
  },
  {
    name: 'lsun_cat', file: 'diffusion_lsun_cat_model/model-1761000.ckpt', md5: 'bbee0e7c3d7abfb6e2539eaf2fb9987b',
    urls: [heibox('fac870bd988348eab88e')], config: 'lsun-bedroom-256', parameters: LSUN_PARAMETERS, bytes: float32CheckpointBytes(LSUN_PARAMETERS),
    description: 'DDPM LSUN cat 256x256',
  },
  {
    name: 'ema_lsun_cat', file: 'ema_diffusion_lsun_cat_model/model-1761000.ckpt', md5: '646f23f4821f2459b8bafc57fd824558',
    urls: [heibox('0701aac3aa69457bbe34')], config: 'lsun-bedroom-256', parameters: LSUN_PARAMETERS, bytes: float32CheckpointBytes(LSUN_PARAMETERS),
    description: 'DDPM LSUN cat 256x256, EMA weights',
  },
  {
    name: 'cifar10', file: 'diffusion_cifar10_model/model-790000.ckpt', md5: '82ed3067fd1002f5cf4c339fb80c4669',
    urls: [heibox('869980b53bf5416c8a28')], config: 'cifar10-32', parameters: CIFAR10_PARAMETERS, bytes: float32CheckpointBytes(CIFAR10_PARAMETERS),
    description: 'DDPM CIFAR-10 32x32',
  },
  {
    name: 'ema_cifar10', file: 'ema_diffusion_cifar10_model/model-790000.ckpt', md5: '1fa350b952534ae442b1d5235cce5cd3',
    urls: [heibox('2e4f01e2d9ee49bab1d5')], config: 'cifar10-32', parameters: CIFAR10_PARAMETERS, bytes: float32CheckpointBytes(CIFAR10_PARAMETERS),
    description: 'DDPM CIFAR-10 32x32, EMA weights',
  },
];

/** The entry called `name`; a DnfError listing the known names otherwise. */
export function weightsEntry(name: string): WeightsEntry {
  const entry = WEIGHTS.find((e) => e.name === name);
  if (!entry) {
    throw new DnfError(`unknown weights '${name}'; choose one of ${WEIGHTS.map((e) => e.name).join(', ')} (see \`dnf weights list\`)`);
  }
  return entry;
}
