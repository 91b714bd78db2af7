/**
 * Turns an adapter into a Gpu: requests the adapter's real limits (not the spec defaults, which
 * would cap bindings at 128 MiB even where the hardware allows more) and the optional features
 * the engine uses. (Dawn's "maxDynamic...BuffersPerPipelineLayout artificially reduced" notices on
 * the OpenGL ES backend do not come from these requests: Dawn prints them while it enumerates the
 * adapter, before any device exists; the `dnf` command drops them, see src/node/supervisor.ts.)
 */
import { Gpu, type AdapterSummary, type FeatureLevel, type GpuOptions } from './gpu.js';
import { measureLaneReads } from './lane-reads.js';

/** Optional features requested when the adapter has them. */
const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: !!(info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter,
  };
}

export function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const limits: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters; `for in` sees them.
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  return limits;
}

export async function requestGpu(
  adapter: GPUAdapter,
  backend: string,
  featureLevel: FeatureLevel,
  options: GpuOptions = {},
  onDestroy?: () => void,
): Promise<Gpu> {
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    label: 'dnf',
    requiredFeatures,
    requiredLimits: adapterLimits(adapter),
  });
  const gpu = new Gpu(device, summarizeAdapter(adapter), backend, featureLevel, options, onDestroy);
  // CPU adapters: which way lane-varying inputs are read faster depends on the host CPU (src/gpu/lane-reads.ts).
  if (gpu.laneTexels === 'auto' && gpu.memoryIsHost) {
    gpu.useLaneReads(await measureLaneReads(gpu));
    gpu.profiler?.reset(); // the probe is not the caller's work
  }
  return gpu;
}
