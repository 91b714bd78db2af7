/** The --perturb / --robustness grammar: normal form round trips, bad text is a one-line DnfError naming the bad part. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { cacheName, formatSpec, GRAMMAR, parseSpec, parseSweep, type PerturbStep } from '../src/image/perturb-spec.js';

const step: fc.Arbitrary<PerturbStep> = fc.oneof(
  fc.integer({ min: 1, max: 100 }).map((quality) => ({ kind: 'jpeg' as const, quality })),
  fc.double({ min: 1e-6, max: 64, noNaN: true }).filter((v) => v > 0).map((sigma) => ({ kind: 'blur' as const, sigma })),
  fc.double({ min: 1e-6, max: 16, noNaN: true }).filter((v) => v > 0).map((factor) => ({ kind: 'resize' as const, factor })),
  fc.integer({ min: 1, max: 65535 }).map((size) => ({ kind: 'crop' as const, size })),
);

describe('perturbation spec', () => {
  it('parses steps in order and writes the normal form', () => {
    expect(parseSpec('jpeg:75+blur:1.0+resize:.5+crop:224')).toEqual([
      { kind: 'jpeg', quality: 75 }, { kind: 'blur', sigma: 1 }, { kind: 'resize', factor: 0.5 }, { kind: 'crop', size: 224 },
    ]);
    expect(formatSpec(parseSpec(' jpeg:75 + blur:1.0 '))).toBe('jpeg:75+blur:1');
    expect(cacheName(parseSpec('jpeg:75+blur:1.50'))).toBe('jpeg-75+blur-1.5');
    expect(parseSpec('none')).toEqual([]);
    expect(formatSpec([])).toBe('none');
  });

  it('parse(format(spec)) round-trips (property)', () => {
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 5 }), (spec) => {
      expect(parseSpec(formatSpec(spec))).toEqual(spec);
    }), { numRuns: 500 });
  });

  it.each([
    ['jpeg:101', '"jpeg:101" needs a JPEG quality (an integer 1..100)'],
    ['jpeg:7.5', '"jpeg:7.5" needs a JPEG quality'],
    ['blur:0', '"blur:0" needs a blur sigma (0 < SIGMA <= 64)'],
    ['blur:-1', '"blur:-1" needs a blur sigma'],
    ['resize:abc', '"resize:abc" needs a resize factor'],
    ['crop:0', '"crop:0" needs a crop size'],
    ['sharpen:2', '"sharpen:2" has an unknown kind "sharpen"'],
    ['jpeg', '"jpeg" needs a JPEG quality (an integer 1..100)'],
    ['sharp', '"sharp" is not KIND:VALUE'],
    ['jpeg:75+', '"" is an empty step (a + at an end, or two in a row)'],
    ['blur:1++crop:8', '"" is an empty step'],
    ['', '"" is empty'],
  ])('%j is refused with one line naming the bad part and the grammar', (text, part) => {
    let err: unknown;
    try {
      parseSpec(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DnfError);
    const msg = (err as DnfError).message;
    expect(msg).toContain(`--perturb ${JSON.stringify(text.trim())}: ${part}`);
    expect(msg.endsWith(GRAMMAR)).toBe(true);
    expect(msg).not.toContain('\n');
  });

  it('garbage gives a DnfError, never another exception (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (text) => {
      try {
        const spec = parseSpec(text);
        expect(parseSpec(formatSpec(spec))).toEqual(spec);
      } catch (e) {
        expect(e).toBeInstanceOf(DnfError);
        expect((e as Error).message).not.toContain('\n');
      }
    }), { numRuns: 2000 });
  });

  it('a sweep: kinds with comma-separated strengths, or whole specs', () => {
    const sweep = parseSweep('jpeg:95,75,50 blur:1,2  resize:0.5 jpeg:75+blur:1');
    expect(sweep.map((e) => [e.label, e.kind, e.strength])).toEqual([
      ['jpeg:95', 'jpeg', 95], ['jpeg:75', 'jpeg', 75], ['jpeg:50', 'jpeg', 50], ['blur:1', 'blur', 1], ['blur:2', 'blur', 2],
      ['resize:0.5', 'resize', 0.5], ['jpeg:75+blur:1', 'jpeg:75+blur:1', null],
    ]);
    expect(() => parseSweep('jpeg:95,101')).toThrow(/--robustness "jpeg:95,101": "jpeg:101" needs a JPEG quality/);
    expect(() => parseSweep('jpeg:75+blur:1,2')).toThrow(/"jpeg:75\+blur:1,2" lists strengths after something other than one KIND:VALUE/);
    expect(() => parseSweep('blur:1 blur:1.0')).toThrow(/"blur:1" is listed twice/);
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (text) => {
      try {
        parseSweep(text);
      } catch (e) {
        expect(e).toBeInstanceOf(DnfError);
      }
    }), { numRuns: 1000 });
  });
});
