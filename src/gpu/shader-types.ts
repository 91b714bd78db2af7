/** A WGSL source embedded at build time, with what tools/embed-shaders.mjs read from it. */
export interface ShaderSource {
  readonly code: string;
  /** The fields of `struct Params`, in declaration order: [name, scalar type]. */
  readonly params: ReadonlyArray<readonly [string, 'u32' | 'i32' | 'f32']>;
  /**
   * The @group(0) bindings, numbered 0..n-1; binding 0 is the Params uniform when there are params.
   * 'texture': a texture_2d<f32> read with textureLoad (unfilterable float, src/gpu/texels.ts).
   */
  readonly bindings: ReadonlyArray<{ readonly binding: number; readonly name: string; readonly kind: 'uniform' | 'read' | 'read_write' | 'texture' }>;
  /** The @compute entry points. */
  readonly entries: readonly string[];
}
