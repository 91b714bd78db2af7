/** Browser GPU acquisition: navigator.gpu, core feature level first, then compatibility. */
import { DnfError } from '../errors.js';
import { requestGpu } from './device.js';
import type { Gpu, GpuOptions } from './gpu.js';

export async function acquireBrowserGpu(options: GpuOptions = {}): Promise<Gpu> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new DnfError('This browser does not offer WebGPU: use a current Chrome, Edge or Safari (or Firefox with WebGPU enabled).');
  for (const featureLevel of ['core', 'compatibility'] as const) {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance', featureLevel } as GPURequestAdapterOptions);
    if (adapter) return requestGpu(adapter, 'browser', adapter.features.has('core-features-and-limits') ? 'core' : featureLevel, options);
  }
  throw new DnfError('WebGPU is present but no GPU adapter is available: enable hardware acceleration in the browser settings.');
}
