/**
 * The GPU context: one device and everything that runs work on it. Platform-neutral: the Node
 * and browser entry points only differ in how they obtain the adapter (src/node/acquire.ts,
 * src/gpu/acquire-browser.ts).
 *
 * Work is recorded, not run: `dispatch()` appends to one command encoder, and `flush()` submits
 * everything recorded so far in one submit. Reading results (`read`) flushes first.
 */
// The declarations name WebGPU's types: this directive, kept in dist/gpu/gpu.d.ts, gives them to
// a TypeScript user of the package without a `types` entry of their own.
/// <reference types="@webgpu/types" preserve="true" />
import { DnfError, oneLine } from '../errors.js';
import { SHADERS, type ShaderName } from './shaders.generated.js';
import { packParams, paramsByteSize, type ParamValues } from './params.js';
import { BufferPool } from './pool.js';
import { BufferUsage, MapMode } from './usage.js';
import { Profiler, type ProfileMode } from './profiler.js';
import type { Retired } from './retired.js';
import type { LaneReads, LaneReadsProbe, LaneTexelsChoice } from './lane-reads.js';
import { TexelPool, type TexelFormat, type Texels } from './texels.js';

export type FeatureLevel = 'core' | 'compatibility';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

/** A buffer range to bind: a whole buffer, or a part of one (offset and size in bytes). */
type BufferRange = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };
/** What a dispatch binds: a buffer range, or (for a texture_2d<f32> binding) a texture view. */
export type BindingResource = BufferRange | { texture: GPUTextureView };

export interface Dispatch {
  shader: ShaderName;
  /** Entry point; defaults to 'main'. */
  entry?: string;
  /** Values of the shader's `override` constants (part of the pipeline key). */
  overrides?: Record<string, number>;
  /** Values of the shader's `struct Params` fields. */
  params?: ParamValues;
  /** Storage buffers (and texture views) in @binding order (after the Params uniform at binding 0). */
  buffers: BindingResource[];
  workgroups: readonly [number, number?, number?];
  /** Name used by the profiler; defaults to `shader.entry`. */
  label?: string;
}

export interface GpuOptions {
  /** Validation error scope around every dispatch; errors name the kernel (env DNF_DEBUG=1). */
  debug?: boolean;
  /** Per-kernel timing (env DNF_PROFILE=1): GPU timestamps when the adapter has them, else wall clock. */
  profile?: boolean;
  /**
   * The 3x3 'same' convolutions of fixed-weight layers (the UNet): 'auto' (default) takes
   * Winograd F(4x4, 3x3) where measured faster (CPU adapters, maps of 32x32 and more, 32
   * channels and more), 'direct' never, 'winograd' wherever it applies (to measure it on a new
   * adapter). Env DNF_CONV3X3.
   */
  conv3x3?: Conv3x3Choice;
  /**
   * Split-K for the direct 3x3 'same' convolutions on GPUs (kernels/conv2d.ts, conv2dSplits):
   * 'auto' sums the input channels of layers whose maps are too small to fill a GPU in parts on
   * more workgroups, then adds the parts; 'off' (default until measured on a GPU: bench/gpu.sh
   * runs the UNet both ways) never. CPU adapters never split. Env DNF_SPLITK.
   */
  splitK?: SplitKChoice;
  /**
   * Texel mirrors for the GEMMs' operands (src/gpu/texels.ts, kernels/gemm.ts gemmReads): 'auto'
   * (default) on CPU adapters (measured faster on llvmpipe and SwiftShader), 'on' on every
   * adapter, 'off' never (to measure them on a new adapter, or against storage). Env DNF_TEXELS.
   */
  texels?: TexelsChoice;
  /**
   * Whether the direct convolutions read GroupNorm(x) as they load it (kernels/conv2d.ts
   * conv2dReadsNorm) rather than after a pass that writes it: 'off' (default until measured on a
   * GPU: bench/gpu.sh runs the UNet both ways) or 'on'. Env DNF_FUSE_NORM. (Winograd always does.)
   */
  fuseNorm?: FuseNormChoice;
  /**
   * Texel mirrors for the inputs that kernels read at addresses differing from lane to lane
   * (src/gpu/lane-reads.ts): 'auto' (default) measures on CPU adapters which way is faster
   * (the texels with llvmpipe's AVX2 code, storage with its AVX-512 code), GPUs read storage;
   * 'on' and 'off' force either way. Env DNF_LANE_TEXELS.
   */
  laneTexels?: LaneTexelsChoice;
}

export type Conv3x3Choice = 'auto' | 'direct' | 'winograd';
export type SplitKChoice = 'auto' | 'off';
export type TexelsChoice = 'auto' | 'on' | 'off';
export type FuseNormChoice = 'on' | 'off';

const UNIFORM_CHUNK = 64 * 1024;

interface UniformChunk {
  buffer: GPUBuffer;
  mirror: ArrayBuffer;
  used: number;
}

export class Gpu {
  readonly limits: GPUSupportedLimits;
  readonly features: string[];
  readonly pool: BufferPool;
  readonly texelPool: TexelPool;
  readonly debug: boolean;
  readonly conv3x3: Conv3x3Choice;
  readonly splitK: SplitKChoice;
  readonly texels: TexelsChoice;
  readonly fuseNorm: FuseNormChoice;
  readonly laneTexels: LaneTexelsChoice;
  /** How kernels read lane-varying inputs: laneTexels 'on' or 'off', or what the probe chose (useLaneReads). */
  private lanes: LaneReads;
  private lanesProbe: LaneReadsProbe | null = null;
  readonly profiler: Profiler | null;

  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<ShaderName, GPUBindGroupLayout>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private chunks: UniformChunk[] = [];
  private chunkIndex = 0;
  private readonly uniformAlign: number;
  /** The pools' evicted objects, destroyed after each submit (src/gpu/retired.ts). */
  private readonly retired: Array<Retired<GPUBuffer> | Retired<GPUTexture>>;
  private deviceError: string | null = null;
  /** Set when the device is lost: every later step fails, so it stops a batch job (exit 2). */
  private lostError: string | null = null;
  private readonly debugErrors: Array<Promise<string | null>> = [];
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly backend: string,
    readonly featureLevel: FeatureLevel,
    options: GpuOptions = {},
    private readonly onDestroy?: () => void,
  ) {
    this.limits = device.limits;
    this.features = [...device.features].sort();
    this.pool = new BufferPool(device, Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize));
    this.texelPool = new TexelPool(device);
    this.uniformAlign = Math.max(16, device.limits.minUniformBufferOffsetAlignment);
    this.debug = !!options.debug;
    this.conv3x3 = options.conv3x3 ?? 'auto';
    if (!['auto', 'direct', 'winograd'].includes(this.conv3x3)) throw new DnfError(`conv3x3 (env DNF_CONV3X3) must be auto, direct or winograd, got '${this.conv3x3}'`);
    this.splitK = options.splitK ?? 'off';
    if (!['auto', 'off'].includes(this.splitK)) throw new DnfError(`splitK (env DNF_SPLITK) must be auto or off, got '${this.splitK}'`);
    this.texels = options.texels ?? 'auto';
    if (!['auto', 'on', 'off'].includes(this.texels)) throw new DnfError(`texels (env DNF_TEXELS) must be auto, on or off, got '${this.texels}'`);
    this.fuseNorm = options.fuseNorm ?? 'off';
    if (!['on', 'off'].includes(this.fuseNorm)) throw new DnfError(`fuseNorm (env DNF_FUSE_NORM) must be on or off, got '${this.fuseNorm}'`);
    this.laneTexels = options.laneTexels ?? 'auto';
    if (!['auto', 'on', 'off'].includes(this.laneTexels)) throw new DnfError(`laneTexels (env DNF_LANE_TEXELS) must be auto, on or off, got '${this.laneTexels}'`);
    this.lanes = this.laneTexels === 'on' ? 'texels' : 'storage';
    const mode: ProfileMode | null = options.profile ? (device.features.has('timestamp-query') ? 'timestamp' : 'wallclock') : null;
    this.retired = [this.pool.retired, this.texelPool.retired];
    this.profiler = mode ? new Profiler(device, mode, () => this.retired.forEach((r) => r.releaseKept())) : null;
    // A wall-clock replay runs recorded dispatches again later: the buffers and textures they name must live.
    for (const r of this.retired) r.keep = mode === 'wallclock';
    device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      this.deviceError ??= msg;
    });
    void device.lost.then((info) => {
      if (!this.destroyed) this.lostError = `the GPU device was lost (${info.reason}: ${oneLine(info.message, 200)}); the GPU driver reset or the machine ran out of memory: run again, with a smaller --batch if it repeats`;
    });
  }

  /**
   * Whether device memory is the process's own memory: a CPU adapter (Mesa llvmpipe, SwiftShader,
   * lavapipe, WARP, or any fallback adapter), where what the GPU holds counts in the RSS.
   */
  get memoryIsHost(): boolean {
    const a = this.adapter;
    return a.isFallbackAdapter || /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i.test(`${a.device} ${a.description} ${a.architecture}`);
  }

  /** How kernels read inputs whose address differs from lane to lane (src/gpu/lane-reads.ts). */
  get laneReads(): LaneReads {
    return this.lanes;
  }

  /** The probe behind laneReads, where one ran (null: laneTexels forced it, or a GPU). */
  get laneReadsProbe(): LaneReadsProbe | null {
    return this.lanesProbe;
  }

  /** Takes the probe's choice (laneTexels 'auto' only; requestGpu runs it on CPU adapters). */
  useLaneReads(probe: LaneReadsProbe): void {
    if (this.laneTexels !== 'auto') throw new Error(`laneTexels is '${this.laneTexels}': the probe does not apply`);
    this.lanesProbe = probe;
    this.lanes = probe.reads;
  }

  /** Largest buffer a single binding may use (128 MiB on browsers' and the GL adapter's defaults). */
  get maxBinding(): number {
    return Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
  }

  /** Compiled pipelines so far (one per kernel variant, never per shape). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** Adapter, backend and limits in one plain object (for `dnf doctor` and benchmark reports). */
  describe() {
    return {
      backend: this.backend,
      featureLevel: this.featureLevel,
      adapter: this.adapter,
      limits: {
        maxBufferSize: this.limits.maxBufferSize,
        maxStorageBufferBindingSize: this.limits.maxStorageBufferBindingSize,
        maxComputeInvocationsPerWorkgroup: this.limits.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: this.limits.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupStorageSize: this.limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: this.limits.maxComputeWorkgroupsPerDimension,
        maxStorageBuffersPerShaderStage: this.limits.maxStorageBuffersPerShaderStage,
      },
      features: this.features,
      laneReads: { reads: this.laneReads, laneTexels: this.laneTexels, probe: this.laneReadsProbe },
    };
  }

  // ---------------------------------------------------------------- pipelines

  private layout(shader: ShaderName): GPUBindGroupLayout {
    let layout = this.layouts.get(shader);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        label: shader,
        entries: SHADERS[shader].bindings.map((b) => ({
          binding: b.binding,
          visibility: 0x4 /* GPUShaderStage.COMPUTE */,
          ...(b.kind === 'texture'
            ? { texture: { sampleType: 'unfilterable-float', viewDimension: '2d' } as const }
            : { buffer: { type: b.kind === 'uniform' ? 'uniform' : b.kind === 'read' ? 'read-only-storage' : 'storage' } as const }),
        })),
      });
      this.layouts.set(shader, layout);
    }
    return layout;
  }

  /** The compute pipeline for (shader, entry, overrides); compiled once, never per shape. */
  pipeline(shader: ShaderName, entry = 'main', overrides?: Record<string, number>): GPUComputePipeline {
    const keyOverrides = overrides ? Object.keys(overrides).sort().map((k) => `${k}=${overrides[k]}`).join(',') : '';
    const key = `${shader}:${entry}:${keyOverrides}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const src = SHADERS[shader];
      if (!(src.entries as readonly string[]).includes(entry)) throw new Error(`${shader}.wgsl has no entry point '${entry}'`);
      const module = this.device.createShaderModule({ label: shader, code: src.code });
      p = this.device.createComputePipeline({
        label: key,
        layout: this.device.createPipelineLayout({ label: shader, bindGroupLayouts: [this.layout(shader)] }),
        compute: { module, entryPoint: entry, constants: overrides },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  // ---------------------------------------------------------------- recording

  private uniformSlot(bytes: number): { buffer: GPUBuffer; offset: number; view: DataView } {
    let chunk = this.chunks[this.chunkIndex];
    if (chunk && chunk.used + bytes > UNIFORM_CHUNK) chunk = this.chunks[++this.chunkIndex];
    if (!chunk) {
      chunk = {
        buffer: this.device.createBuffer({ size: UNIFORM_CHUNK, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'params' }),
        mirror: new ArrayBuffer(UNIFORM_CHUNK),
        used: 0,
      };
      this.chunks[this.chunkIndex] = chunk;
    }
    const offset = chunk.used;
    chunk.used = Math.ceil((offset + bytes) / this.uniformAlign) * this.uniformAlign;
    return { buffer: chunk.buffer, offset, view: new DataView(chunk.mirror) };
  }

  /** A texture binding that a dispatch does not read (winograd_gemm.wgsl's Vt and Ut when V and U come from storage). */
  get texturePlaceholder(): { texture: GPUTextureView } {
    return this.texelPool.placeholder;
  }

  /**
   * A texel mirror of `texels` texels of a buffer range (src/gpu/texels.ts; vec4<f32> each, or
   * f32 for 'r32float'): copied in order with the recorded dispatches; release() it once the
   * dispatches that read it are recorded.
   */
  texelMirror(src: { buffer: GPUBuffer; offset: number }, texels: number, label: string, format?: TexelFormat): Texels {
    return this.texelPool.mirror(this.copyEncoder(), src, texels, label, format);
  }

  /** texelMirror in a texture of its own, for a mirror kept across calls (TexelPool.hold). */
  texelHold(src: { buffer: GPUBuffer; offset: number }, vec4s: number, label: string): Texels {
    return this.texelPool.hold(this.copyEncoder(), src, vec4s, label);
  }

  /** Records one compute dispatch. Nothing runs until flush() (or a read). */
  dispatch(d: Dispatch): void {
    if (this.destroyed) throw new Error('GPU context used after destroy()');
    const src = SHADERS[d.shader];
    const entry = d.entry ?? 'main';
    const label = d.label ?? `${d.shader}.${entry}`;
    const [x, y = 1, z = 1] = d.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) throw new Error(`${label}: ${x}x${y}x${z} workgroups exceed the adapter's ${maxWg} per dimension`);
    if (x === 0 || y === 0 || z === 0) return;
    const hasParams = src.params.length > 0;
    const expected = src.bindings.length - (hasParams ? 1 : 0);
    if (d.buffers.length !== expected) throw new Error(`${label}: ${d.buffers.length} buffers given, ${d.shader}.wgsl declares ${expected}`);

    if (this.debug) this.device.pushErrorScope('validation');
    const entries: GPUBindGroupEntry[] = [];
    let paramBytes: Uint8Array = new Uint8Array(0);
    if (hasParams) {
      const size = paramsByteSize(src.params);
      const slot = this.uniformSlot(size);
      packParams(d.shader, src.params, d.params ?? {}, slot.view, slot.offset);
      paramBytes = new Uint8Array(slot.view.buffer, slot.offset, size);
      entries.push({ binding: 0, resource: { buffer: slot.buffer, offset: slot.offset, size } });
    } else if (d.params && Object.keys(d.params).length) {
      throw new Error(`${label}: params given but ${d.shader}.wgsl declares no struct Params`);
    }
    for (const b of d.buffers) entries.push({ binding: entries.length, resource: 'texture' in b ? b.texture : 'buffer' in b ? b : { buffer: b } });
    const pipeline = this.pipeline(d.shader, entry, d.overrides);
    const bindGroup = this.device.createBindGroup({ label, layout: this.layout(d.shader), entries });

    const encoder = (this.encoder ??= this.device.createCommandEncoder({ label: 'dnf' }));
    const timestamps = this.profiler?.timestampWrites(label);
    if (timestamps) {
      // Its own pass, so the timestamps bracket this dispatch alone.
      this.endPass();
      const pass = encoder.beginComputePass({ label, timestampWrites: timestamps });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    } else {
      const pass = (this.pass ??= encoder.beginComputePass({ label: 'dnf' }));
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    }
    if (this.profiler?.mode === 'wallclock') {
      const storage = entries.slice(hasParams ? 1 : 0);
      this.profiler.record({ label, pipeline, layout: this.layout(d.shader), params: paramBytes.slice(), storage, workgroups: [x, y, z] });
    }
    this.pending++;
    if (this.debug) {
      this.flush();
      this.debugErrors.push(this.device.popErrorScope().then((e) => (e ? `${label}: ${e.message}` : null)));
    } else if (this.profiler?.full || this.pending >= 512) {
      this.flush();
    }
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Copies `size` bytes between buffers, in order with the recorded dispatches. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.copyEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
  }

  /** The encoder for a copy recorded in order with the dispatches (outside any compute pass). */
  private copyEncoder(): GPUCommandEncoder {
    this.endPass();
    this.pending++;
    return (this.encoder ??= this.device.createCommandEncoder({ label: 'dnf' }));
  }

  /** Submits everything recorded so far (one submit). */
  flush(): void {
    if (!this.encoder) {
      // Nothing recorded names a retired buffer or texture.
      for (const r of this.retired) r.afterSubmit();
      return;
    }
    this.endPass();
    for (let i = 0; i <= this.chunkIndex && i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.used) this.device.queue.writeBuffer(c.buffer, 0, c.mirror, 0, c.used);
      c.used = 0;
    }
    this.chunkIndex = 0;
    this.profiler?.resolve(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    for (const r of this.retired) r.afterSubmit();
    this.profiler?.afterSubmit();
    this.encoder = null;
    this.pending = 0;
  }

  /** Flushes and waits until the GPU has finished; throws the first GPU error seen, naming the kernel in debug mode. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwErrors();
  }

  private async throwErrors(): Promise<void> {
    if (this.lostError) throw new DnfError(this.lostError, 2);
    if (this.debugErrors.length) {
      const errs = (await Promise.all(this.debugErrors.splice(0))).filter((e): e is string => !!e);
      if (errs.length) throw new Error(`GPU validation error: ${errs[0]}${errs.length > 1 ? ` (and ${errs.length - 1} more)` : ''}`);
    }
    if (this.deviceError) {
      const e = this.deviceError;
      this.deviceError = null;
      throw new Error(`GPU error: ${e}`);
    }
  }

  // ---------------------------------------------------------------- data in and out

  /** A pooled storage buffer holding `data` (flushes first so recycled memory is not overwritten early). */
  upload(data: ArrayBufferView, label: string): GPUBuffer {
    if (this.pending) this.flush();
    const buffer = this.pool.acquire(data.byteLength, label);
    writeAligned(this.device.queue, buffer, 0, data);
    return buffer;
  }

  /** Writes `data` into an existing buffer at `offset` (in queue order after everything recorded so far). */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    if (this.pending) this.flush();
    writeAligned(this.device.queue, buffer, offset, data);
  }

  /** Reads `size` bytes of `buffer` from `offset` back to the CPU, after all recorded work. */
  async read(buffer: GPUBuffer, offset = 0, size = buffer.size - offset): Promise<ArrayBuffer> {
    const padded = Math.ceil(size / 4) * 4;
    const staging = this.device.createBuffer({ size: padded, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'readback' });
    this.copy(buffer, offset, staging, 0, padded);
    this.flush();
    try {
      await staging.mapAsync(MapMode.READ);
      return staging.getMappedRange().slice(0, size);
    } catch (err) {
      await this.throwErrors();
      throw err;
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      staging.destroy();
      await this.throwErrors();
    }
  }

  /** Releases the device (a Node process then exits without waiting on Dawn). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pool.trim();
    this.texelPool.destroy();
    for (const c of this.chunks) c.buffer.destroy();
    this.profiler?.destroy();
    this.device.destroy();
    this.onDestroy?.();
  }
}

/** queue.writeBuffer needs a multiple of 4 bytes; pad a copy when the view is not. */
function writeAligned(queue: GPUQueue, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4) {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    bytes = padded;
  }
  if (bytes.byteLength) queue.writeBuffer(buffer, offset, bytes as Uint8Array<ArrayBuffer>);
}
