/**
 * Texel mirrors: a range of a buffer's vec4<f32> copied into an rgba32float texture TEXEL_ROW
 * texels wide, vec4 i at texel (i % TEXEL_ROW, i / TEXEL_ROW), for kernels that read an operand
 * with textureLoad rather than from storage (winograd_gemm.wgsl's `texel`); or, for kernels that
 * read single values (src/gpu/lane-reads.ts), its f32 into an r32float texture, value i at texel
 * (i % TEXEL_ROW, i / TEXEL_ROW). The copy is exact (both formats hold the float32 bits), so a
 * kernel reads the same values either way.
 *
 * Why: Mesa 22.3's llvmpipe loads a storage buffer one invocation at a time, with a branch per
 * lane (inside loops, and even where every invocation reads the same address), while a texel
 * fetch is vector code. Measured on llvmpipe (2-core EPYC): a 16-channel register tile over the
 * input channels, V per lane and U uniform, ran 8 GFLOP/s from storage and 25..34 GFLOP/s from
 * textures; copyBufferToTexture moved 14 GB/s. SwiftShader's GEMMs gain too, less (see
 * src/kernels/gemm.ts gemmReads).
 *
 * (The textures also allow copies out, for tests and debugging.)
 *
 * Textures are pooled: a mirror takes the free texture with the fewest rows that holds it (new
 * ones get a row class, 1/8 apart as the buffer pool's), goes back on release() and is copied
 * over by a later mirror, in queue order after the commands that read it. Taking the best fit
 * rather than an exact class keeps a model's working set to a few textures, each created (and
 * cleared by Dawn on first use) once: with exact classes the UNet's layers needed 843 MB of them,
 * or, capped, re-created textures every forward (11.4 s against 9.4 s). Free textures are kept
 * up to FREE_BYTES in all; the oldest released beyond that are destroyed after the next submit
 * (recorded commands may still name them), or, while the wall-clock profiler replays recorded
 * dispatches (src/gpu/retired.ts), once it has. A mirror its owner keeps (`hold`: transformed
 * weights) gets a texture of its own instead.
 */
import { roundUpEighth } from './pool.js';
import { Retired } from './retired.js';
import { TextureUsage } from './usage.js';

/** Texels per row: 64 KiB rows, a multiple of the 256 bytes copyBufferToTexture asks of bytesPerRow. */
export const TEXEL_ROW = 4096;
/** Free textures kept for reuse, in all. */
const FREE_BYTES = 256 << 20;

/** A mirror's texels: vec4<f32> (rgba32float) or f32 (r32float). */
export type TexelFormat = 'rgba32float' | 'r32float';
const TEXEL_BYTES: Record<TexelFormat, number> = { rgba32float: 16, r32float: 4 };

/** A mirror: the view to bind (a texture_2d<f32> binding of a Dispatch), its texture, and its release. */
export interface Texels {
  readonly texture: GPUTextureView;
  readonly image: GPUTexture;
  release(): void;
}

/** Rows rounded up to a class (exact up to 64, then the buffer pool's steps of 1/8). */
export function rowClass(rows: number): number {
  return rows <= 64 ? Math.max(1, rows) : roundUpEighth(rows);
}

export class TexelPool {
  private readonly all = new Set<GPUTexture>();
  /** Free textures, oldest released first, and their bytes. */
  private readonly free = new Set<GPUTexture>();
  private freeBytes = 0;
  /** Evicted, destroyed after the next submit (or kept for a replay: retired.keep). */
  readonly retired = new Retired<GPUTexture>((t) => this.destroyOne(t));
  private empty: { texture: GPUTextureView } | null = null;
  /** Bytes in textures allocated from the device. */
  heldBytes = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Rows a mirror of `texels` texels takes; above the adapter's texture height the kernel keeps storage. */
  static rows(texels: number): number {
    return Math.max(1, Math.ceil(texels / TEXEL_ROW));
  }

  /** Whether this device can mirror `texels` texels, of either format (rows within maxTextureDimension2D). */
  fits(texels: number): boolean {
    return rowClass(TexelPool.rows(texels)) <= this.device.limits.maxTextureDimension2D;
  }

  /**
   * Records on `encoder` the copy of `texels` texels of `src` (vec4 for rgba32float, f32 for
   * r32float; its byte offset a multiple of 16) into a pooled texture of that format.
   */
  mirror(encoder: GPUCommandEncoder, src: { buffer: GPUBuffer; offset: number }, texels: number, label: string, format: TexelFormat = 'rgba32float'): Texels {
    const rows = this.checked(src, texels, label);
    const texture = this.bestFit(rows, format) ?? this.create(rowClass(rows), label, TEXEL_ROW, format);
    copyInto(encoder, texture, src, texels);
    return texelsOf(texture, label, () => {
      this.free.add(texture);
      this.freeBytes += bytesOf(texture);
      for (const old of this.free) {
        if (this.freeBytes <= FREE_BYTES) break;
        this.free.delete(old);
        this.freeBytes -= bytesOf(old);
        this.retired.add(old);
      }
    });
  }

  /**
   * A mirror kept by its owner for as long as the source does not change (a layer's transformed
   * weights, so that they are not copied again at every call): a texture of its own, exactly
   * the rows it needs, outside the pool; release() destroys it after the next submit.
   */
  hold(encoder: GPUCommandEncoder, src: { buffer: GPUBuffer; offset: number }, vec4s: number, label: string): Texels {
    const texture = this.create(this.checked(src, vec4s, label), label);
    copyInto(encoder, texture, src, vec4s);
    return texelsOf(texture, label, () => this.retired.add(texture));
  }

  /** The rows a mirror of `texels` texels at `src` takes, after checking that it can be made. */
  private checked(src: { offset: number }, texels: number, label: string): number {
    if (!this.fits(texels)) throw new Error(`${label}: ${texels} texels need more than ${this.device.limits.maxTextureDimension2D} rows of ${TEXEL_ROW} texels`);
    if (src.offset % 16) throw new Error(`${label}: a texel mirror starts at a multiple of 16 bytes, got offset ${src.offset}`);
    return TexelPool.rows(texels);
  }

  /** The free texture of `format` with the fewest rows, at least `rows`, taken off the free set; null when none. */
  private bestFit(rows: number, format: TexelFormat): GPUTexture | null {
    let best: GPUTexture | null = null;
    for (const t of this.free) if (t.format === format && t.height >= rows && (!best || t.height < best.height)) best = t;
    if (best) {
      this.free.delete(best);
      this.freeBytes -= bytesOf(best);
    }
    return best;
  }

  /** A 1x1 texture for a texture binding that a dispatch does not read. */
  get placeholder(): { texture: GPUTextureView } {
    if (!this.empty) {
      const t = this.create(1, 'texture placeholder', 1);
      this.empty = { texture: t.createView({ label: 'texture placeholder' }) };
    }
    return this.empty;
  }

  private create(rows: number, label: string, width = TEXEL_ROW, format: TexelFormat = 'rgba32float'): GPUTexture {
    const texture = this.device.createTexture({ label, size: [width, rows, 1], format, usage: TextureUsage.TEXTURE_BINDING | TextureUsage.COPY_DST | TextureUsage.COPY_SRC });
    this.all.add(texture);
    this.heldBytes += bytesOf(texture);
    return texture;
  }

  private destroyOne(t: GPUTexture): void {
    this.all.delete(t);
    this.heldBytes -= bytesOf(t);
    t.destroy();
  }

  /** Destroys every texture (with the device). */
  destroy(): void {
    for (const t of this.all) t.destroy();
    this.all.clear();
    this.free.clear();
    this.freeBytes = 0;
    this.retired.clear();
    this.empty = null;
    this.heldBytes = 0;
  }
}

/** The mirror in `texture`: its view, and a release() that runs `onRelease` once (twice is an error). */
function texelsOf(texture: GPUTexture, label: string, onRelease: () => void): Texels {
  let released = false;
  return {
    texture: texture.createView({ label }),
    image: texture,
    release: () => {
      if (released) throw new Error(`${label}: texel mirror released twice`);
      released = true;
      onRelease();
    },
  };
}

/** Records the copy of `texels` texels at `src` into the first texels of `texture`, row by row. */
function copyInto(encoder: GPUCommandEncoder, texture: GPUTexture, src: { buffer: GPUBuffer; offset: number }, texels: number): void {
  const rowBytes = TEXEL_ROW * TEXEL_BYTES[texture.format as TexelFormat];
  const full = Math.floor(texels / TEXEL_ROW);
  const rest = texels - full * TEXEL_ROW;
  if (full) encoder.copyBufferToTexture({ buffer: src.buffer, offset: src.offset, bytesPerRow: rowBytes, rowsPerImage: full }, { texture }, [TEXEL_ROW, full, 1]);
  if (rest) encoder.copyBufferToTexture({ buffer: src.buffer, offset: src.offset + full * rowBytes }, { texture, origin: [0, full, 0] }, [rest, 1, 1]);
}

function bytesOf(t: GPUTexture): number {
  return t.width * t.height * TEXEL_BYTES[t.format as TexelFormat];
}
