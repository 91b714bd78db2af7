import type { ShaderSource } from './shader-types.js';

export type ParamValues = Record<string, number>;

/**
 * Packs dispatch parameters into the bytes of a shader's `struct Params` (scalars only, 4 bytes
 * each, in declaration order, padded to 16 bytes as WGSL uniform structs are). Every declared field
 * must be given and nothing else: a mismatch between a kernel's TypeScript and its shader fails
 * loudly at the first dispatch instead of reading garbage.
 */
export function packParams(shader: string, decl: ShaderSource['params'], values: ParamValues, out: DataView, offset: number): number {
  const given = Object.keys(values);
  if (given.length !== decl.length || decl.some(([n]) => !(n in values))) {
    const declared = decl.map(([n]) => n);
    const missing = declared.filter((n) => !(n in values));
    const extra = given.filter((n) => !declared.includes(n));
    throw new Error(`${shader}.wgsl Params mismatch: missing [${missing.join(', ')}], not declared [${extra.join(', ')}]`);
  }
  decl.forEach(([name, type], i) => {
    const v = values[name];
    const at = offset + 4 * i;
    switch (type) {
      case 'u32':
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${shader}.wgsl Params.${name}: ${v} is not a u32`);
        out.setUint32(at, v, true);
        break;
      case 'i32':
        if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new Error(`${shader}.wgsl Params.${name}: ${v} is not an i32`);
        out.setInt32(at, v, true);
        break;
      case 'f32':
        if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`${shader}.wgsl Params.${name}: ${v} is not an f32`);
        out.setFloat32(at, v, true);
        break;
    }
  });
  return paramsByteSize(decl);
}

/** Size of the uniform struct in bytes (a multiple of 16, at least 16). */
export function paramsByteSize(decl: ShaderSource['params']): number {
  return Math.max(16, Math.ceil((decl.length * 4) / 16) * 16);
}
