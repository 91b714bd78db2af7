/**
 * Node GPU acquisition through Dawn (the `webgpu` package). With no settings it tries, in order:
 *   1. the platform's native backend (Vulkan, Metal or D3D12: real GPUs; on Linux only when a GPU
 *      device file exists),
 *   2. Mesa's llvmpipe through Dawn's OpenGL ES backend (compatibility feature level, surfaceless EGL),
 *   3. SwiftShader's Vulkan driver, when its ICD file is present (Debian's chromium package ships it).
 * `--backend` / DNF_BACKEND picks one: vulkan, metal, d3d12, opengles (alias llvmpipe), swiftshader.
 * `--adapter` / DNF_ADAPTER chooses among several adapters: a power preference (high-performance,
 * the default, or low-power), or an index into listAdapters() (`dnf doctor --list`). WebGPU has no
 * call that lists adapters; Dawn's Node bindings name them all in the error of a request for an
 * adapter that does not exist, and take an `adapter=<name>` flag to pick one, which is how the
 * list is made and an index honoured.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnfError } from '../errors.js';
import { requestGpu } from '../gpu/device.js';
import type { Conv3x3Choice, FeatureLevel, Gpu, GpuOptions, SplitKChoice, TexelsChoice, FuseNormChoice } from '../gpu/gpu.js';
import type { LaneTexelsChoice } from '../gpu/lane-reads.js';
import { formatProfile } from '../gpu/profiler.js';

export const BACKENDS = ['auto', 'vulkan', 'metal', 'd3d12', 'opengles', 'llvmpipe', 'swiftshader'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];
export const NO_ADAPTER_FIX =
  'install a GPU driver, or the CPU fallback: `apt-get install libegl1 libegl-mesa0 libgles2` (Mesa llvmpipe) or `apt-get install chromium libvulkan1` (SwiftShader)';

interface Attempt {
  name: string;
  featureLevel: FeatureLevel;
  flags: string[];
  prepare?: () => boolean;
}

function nativeBackend(): string {
  return process.platform === 'darwin' ? 'metal' : process.platform === 'win32' ? 'd3d12' : 'vulkan';
}

/**
 * Whether this Linux machine exposes a GPU (a DRM render node, or NVIDIA's, AMD's compute or
 * WSL's device file). Without one, native Vulkan can only find CPU drivers (which Dawn rejects,
 * after printing their warnings), so the automatic order skips it.
 */
function linuxHasGpuDevice(): boolean {
  try {
    if (readdirSync('/dev/dri').some((f) => f.startsWith('renderD'))) return true;
  } catch {
    // no /dev/dri
  }
  return ['/dev/nvidia0', '/dev/kfd', '/dev/dxg'].some((p) => existsSync(p));
}

function swiftshaderIcd(): string | undefined {
  return [process.env.DNF_SWIFTSHADER_ICD, ...SWIFTSHADER_ICDS].find((p): p is string => !!p && existsSync(p));
}

/**
 * The Vulkan loader's window-system code (libwayland) prints "error: XDG_RUNTIME_DIR is invalid or
 * not set in the environment." twice when the variable is unset or does not name a private folder
 * of this user, as in containers and CI. SwiftShader draws no window, so any such folder does: when
 * the given one is missing or unfit, a fresh one (mode 0700) is made in the temp folder and set
 * before Dawn creates its Vulkan instance. A valid XDG_RUNTIME_DIR is left as it is.
 */
export function ensureRuntimeDir(): void {
  const dir = process.env.XDG_RUNTIME_DIR;
  if (dir && isPrivateDir(dir)) return;
  try {
    const made = mkdtempSync(join(tmpdir(), 'dnf-runtime-')); // mkdtemp makes it 0700
    process.env.XDG_RUNTIME_DIR = made;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  } catch {
    // no writable temp folder: the warning is all that is lost
  }
}

/** What libwayland checks: an existing folder of this user that no one else may enter. */
function isPrivateDir(dir: string): boolean {
  try {
    const st = statSync(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

function attemptsFor(choice: BackendChoice, toggles: string[]): Attempt[] {
  const native: Attempt = {
    name: nativeBackend(),
    featureLevel: 'core',
    flags: [...toggles],
    prepare: () => {
      if (process.platform === 'linux') ensureRuntimeDir();
      return true;
    },
  };
  const gles: Attempt = {
    name: 'opengles',
    featureLevel: 'compatibility',
    flags: ['backend=opengles', ...toggles],
    prepare: () => {
      process.env.EGL_PLATFORM ??= 'surfaceless';
      return process.platform === 'linux';
    },
  };
  const swiftshader: Attempt = {
    name: 'swiftshader',
    featureLevel: 'core',
    flags: ['backend=vulkan', ...toggles],
    prepare: () => {
      const icd = swiftshaderIcd();
      if (!icd) return false;
      process.env.VK_ICD_FILENAMES = icd;
      ensureRuntimeDir();
      return true;
    },
  };
  switch (choice) {
    case 'auto':
      return process.platform === 'linux' && !linuxHasGpuDevice() ? [gles, swiftshader] : [native, gles, swiftshader];
    case 'vulkan':
      return [{ ...native, name: 'vulkan', flags: ['backend=vulkan', ...toggles] }];
    case 'metal':
    case 'd3d12':
      return [{ ...native, name: choice, flags: [`backend=${choice}`, ...toggles] }];
    case 'opengles':
    case 'llvmpipe':
      return [gles];
    case 'swiftshader':
      return [swiftshader];
  }
}

let dawn: typeof import('webgpu') | null = null;
// Dawn instances must outlive the process: collecting one whose adapter search failed (for
// example a Vulkan instance that loaded and rejected a driver) crashes Dawn's threads later.
const instances: GPU[] = [];

async function loadDawn(): Promise<typeof import('webgpu')> {
  if (!dawn) {
    try {
      dawn = await import('webgpu');
    } catch (err) {
      throw new DnfError(`cannot load Dawn's Node bindings (the 'webgpu' package): ${(err as Error).message.split('\n')[0]}; run \`npm ci\``);
    }
    Object.assign(globalThis, dawn.globals);
  }
  return dawn;
}

export interface NodeGpuOptions extends GpuOptions {
  /** Backend choice; defaults to DNF_BACKEND, then 'auto'. */
  backend?: string;
  /** 'high-performance' (default), 'low-power', or an index of listAdapters(); defaults to DNF_ADAPTER. */
  adapter?: string;
}

export const POWER_PREFERENCES = ['high-performance', 'low-power'] as const;

/** One adapter Dawn offers: its index for --adapter, the attempt (backend) that reaches it, its name. */
export interface AdapterEntry {
  index: number;
  backend: string;
  name: string;
}

/** A name no adapter has: Dawn then lists the ones it has in its error. */
const NO_SUCH_ADAPTER = 'adapter=\u0001dnf-list';

function backendChoice(backend?: string): BackendChoice {
  const choice = (backend ?? process.env.DNF_BACKEND ?? 'auto').toLowerCase();
  if (!(BACKENDS as readonly string[]).includes(choice)) {
    throw new DnfError(`unknown backend '${choice}'; choose one of ${BACKENDS.join(', ')}`);
  }
  return choice as BackendChoice;
}

/**
 * The adapters reachable with this backend choice, in the order the automatic search tries them;
 * empty when Dawn's error does not list them (another version of the bindings).
 */
export async function listAdapters(backend?: string): Promise<AdapterEntry[]> {
  const { create } = await loadDawn();
  const out: AdapterEntry[] = [];
  for (const attempt of attemptsFor(backendChoice(backend), [])) {
    if (attempt.prepare && !attempt.prepare()) continue;
    const gpu = create([...attempt.flags, NO_SUCH_ADAPTER]);
    instances.push(gpu);
    const message = await gpu.requestAdapter({ featureLevel: attempt.featureLevel } as GPURequestAdapterOptions).then(() => '', (e: Error) => String(e?.message ?? e));
    for (const m of message.matchAll(/^\s*\*\s*backend: '([^']*)', name: '(.*)'\s*$/gm)) {
      if (!out.some((e) => e.name === m[2] && e.backend === attempt.name)) out.push({ index: out.length, backend: attempt.name, name: m[2] });
    }
  }
  return out;
}

/** The attempts and power preference an --adapter choice means. */
async function adapterChoice(choice: BackendChoice, adapter: string | undefined, toggles: string[]): Promise<{ attempts: Attempt[]; power: GPUPowerPreference }> {
  const value = (adapter ?? process.env.DNF_ADAPTER ?? '').trim().toLowerCase();
  if (!value || (POWER_PREFERENCES as readonly string[]).includes(value)) {
    return { attempts: attemptsFor(choice, toggles), power: (value || 'high-performance') as GPUPowerPreference };
  }
  if (!/^\d+$/.test(value)) {
    throw new DnfError(`unknown adapter '${value}'; choose ${POWER_PREFERENCES.join(' or ')}, or an index from \`dnf doctor --list\``);
  }
  const list = await listAdapters(choice);
  const entry = list[Number(value)];
  if (!entry) {
    throw new DnfError(list.length
      ? `no adapter ${value}: there are ${list.length} (0 to ${list.length - 1}); see \`dnf doctor --list\``
      : `no adapter ${value}: Dawn did not list its adapters here; choose ${POWER_PREFERENCES.join(' or ')} instead`);
  }
  const attempt = attemptsFor(choice, toggles).find((a) => a.name === entry.backend)!;
  return { attempts: [{ ...attempt, flags: [...attempt.flags, `adapter=${entry.name}`] }], power: 'high-performance' };
}

/** The GPU for this Node process; see the module comment for the order of attempts. */
export async function acquireGpu(options: NodeGpuOptions = {}): Promise<Gpu> {
  const choice = backendChoice(options.backend);
  const { create } = await loadDawn();
  // Kernels check their own bounds, so Dawn's extra clamping of every access is not needed.
  const toggles = process.env.DNF_ROBUST === '1' ? [] : ['enable-dawn-features=disable_robustness'];
  const { attempts, power } = await adapterChoice(choice, options.adapter, toggles);
  const tried: string[] = [];
  for (const attempt of attempts) {
    if (attempt.prepare && !attempt.prepare()) continue;
    tried.push(attempt.name);
    const gpu = create(attempt.flags);
    instances.push(gpu);
    const adapter = await gpu.requestAdapter({
      powerPreference: power,
      featureLevel: attempt.featureLevel,
    } as GPURequestAdapterOptions);
    if (!adapter) continue;
    const level: FeatureLevel = adapter.features.has('core-features-and-limits') ? 'core' : 'compatibility';
    const backend = attempt.name === 'vulkan' && /swiftshader/i.test(adapter.info?.architecture ?? '') ? 'swiftshader' : attempt.name;
    return requestGpu(adapter, backend, level, {
      debug: options.debug ?? process.env.DNF_DEBUG === '1',
      profile: options.profile ?? process.env.DNF_PROFILE === '1',
      conv3x3: options.conv3x3 ?? (process.env.DNF_CONV3X3 as Conv3x3Choice | undefined),
      splitK: options.splitK ?? (process.env.DNF_SPLITK as SplitKChoice | undefined),
      texels: options.texels ?? (process.env.DNF_TEXELS as TexelsChoice | undefined),
      laneTexels: options.laneTexels ?? (process.env.DNF_LANE_TEXELS as LaneTexelsChoice | undefined),
      fuseNorm: options.fuseNorm ?? (process.env.DNF_FUSE_NORM as FuseNormChoice | undefined),
    });
  }
  throw new DnfError(`no WebGPU adapter found (tried ${tried.join(', ') || 'nothing on this platform'}); ${NO_ADAPTER_FIX}`);
}

/** Releases the GPU; with the profiler on (DNF_PROFILE=1), first prints per-kernel times to stderr. */
export async function releaseGpu(gpu: Gpu): Promise<void> {
  try {
    if (gpu.profiler) {
      await gpu.sync();
      const rows = await gpu.profiler.report();
      process.stderr.write(`per-kernel GPU time (${gpu.profiler.mode}, ${gpu.backend}):\n${formatProfile(rows)}\n`);
    }
  } finally {
    gpu.destroy();
  }
}

/** Runs `fn` with a GPU and always releases it (see releaseGpu). */
export async function withGpu<T>(options: NodeGpuOptions, fn: (gpu: Gpu) => Promise<T>): Promise<T> {
  const gpu = await acquireGpu(options);
  try {
    return await fn(gpu);
  } finally {
    await releaseGpu(gpu);
  }
}
