/**
 * A minimal, read-only ZIP reader over a random-access ByteSource, enough for the archives that
 * `torch.save` writes (PyTorch >= 1.6): STORED entries, data descriptors, ZIP64 records, entries
 * padded to 64-byte alignment through the local header's extra field. DEFLATE entries (zips
 * re-packed by other tools) are inflated with the platform's DecompressionStream('deflate-raw'),
 * only as far as the bytes asked for: a tensor of 16 bytes at the start of an entry that claims
 * 2 GiB inflates a few KB.
 *
 * Nothing is trusted: every size and offset read from the file is checked against the file size
 * and against the central directory's position before it is used. Encrypted and multi-disk
 * archives, and duplicate entry names (which different readers resolve differently), are refused.
 */
import { DnfError } from '../errors.js';
import { oneLine, quoted } from './printable.js';
import type { ByteSource } from './safetensors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const LOCATOR_SIZE = 20;
const EOCD64_SIZE = 56;
/** The central directory is read into memory whole; a state dict needs a few hundred KB at most. */
const MAX_CENTRAL_DIR_BYTES = 64 * 1024 * 1024;
/** A DEFLATE entry is inflated into one buffer, so it is capped (near the typed-array limit). */
const MAX_INFLATED_BYTES = 2 ** 31;
/**
 * DEFLATE's largest expansion: a 258-byte match in as little as 2 bits is 1032:1. An entry that
 * declares more than this times its compressed size (plus a little for block headers) is damaged.
 */
const MAX_DEFLATE_RATIO = 1032;
/**
 * All DEFLATE entries of one archive together may inflate to this plus INFLATE_PER_BYTE times the
 * archive's size. torch.save never compresses; re-packed archives of float weights shrink ~1.1x,
 * so 64x is far above any real checkpoint, while a hostile file of compressed zeros is stopped
 * long before it fills memory (or re-inflates the same entry again and again).
 */
const INFLATE_BASE = 64 * 1024 * 1024;
const INFLATE_PER_BYTE = 64;
/** Compressed data is fed to the inflater in pieces this big, so that output is made only as needed. */
const INFLATE_PIECE = 4096;

/** The first four bytes of a (non-empty) ZIP file: "PK\x03\x04". */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

export interface ZipEntry {
  readonly name: string;
  /** 0 = STORED, 8 = DEFLATE; other methods are refused when the entry is read. */
  readonly method: number;
  readonly compressedSize: number;
  /** Uncompressed size in bytes. */
  readonly size: number;
  readonly localHeaderOffset: number;
}

/** A DEFLATE entry being inflated: the output so far, and the stream that makes more. */
interface Inflation {
  readonly entry: ZipEntry;
  out: Uint8Array;
  filled: number;
  done: boolean;
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
}

export class ZipReader {
  /** Absolute offset of each entry's data, found from its local header on first use. */
  private readonly dataStarts = new Map<ZipEntry, number>();
  /** The last DEFLATE entry read, so that several tensors of one storage inflate it once. */
  private inflation?: Inflation;
  /** Reads of DEFLATE entries run one at a time (they share `inflation`). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Bytes inflated so far, against the archive's budget (INFLATE_BASE, INFLATE_PER_BYTE). */
  private inflatedTotal = 0;

  private constructor(
    readonly source: ByteSource,
    /** Entries by name, in central-directory order. */
    readonly entries: ReadonlyMap<string, ZipEntry>,
    /** Where the central directory starts: every entry's data must end before it. */
    private readonly centralDirOffset: number,
  ) {}

  /** Reads and validates the end records and the central directory (no entry data is read). */
  static async open(src: ByteSource): Promise<ZipReader> {
    const bad = (what: string) => new DnfError(
      `${src.name}: not a readable ZIP archive (${what}); the file is truncated or damaged, so re-download it`);
    if (src.size < EOCD_SIZE) throw bad(`only ${src.size} bytes`);

    // The end-of-central-directory record is the last 22 bytes plus a comment of up to 65535 bytes
    // (plus a ZIP64 locator just before it): search that tail backwards for its signature.
    const tailLen = Math.min(src.size, EOCD_SIZE + 0xffff + LOCATOR_SIZE);
    const tailStart = src.size - tailLen;
    const tail = await src.read(tailStart, tailLen);
    const tv = view(tail);
    let eocd = -1;
    for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tv.getUint16(i + 20, true) <= tailLen) { eocd = i; break; }
    }
    if (eocd < 0) throw bad('no end-of-central-directory record');

    const disk = tv.getUint16(eocd + 4, true);
    const cdDisk = tv.getUint16(eocd + 6, true);
    let count: number = tv.getUint16(eocd + 10, true);
    let cdSize: number = tv.getUint32(eocd + 12, true);
    let cdOffset: number = tv.getUint32(eocd + 16, true);
    let endOfCd = tailStart + eocd; // the central directory must end at or before this offset

    // ZIP64: a locator 20 bytes before the EOCD points at the ZIP64 end record, whose 64-bit fields
    // replace the 0xFFFF / 0xFFFFFFFF placeholders. torch.save always writes one.
    if (eocd >= LOCATOR_SIZE && tv.getUint32(eocd - LOCATOR_SIZE, true) === SIG_EOCD64_LOCATOR) {
      const at = u64(tv, eocd - LOCATOR_SIZE + 8, () => bad('ZIP64 locator offset too large'));
      if (at + EOCD64_SIZE > tailStart + eocd - LOCATOR_SIZE) throw bad(`ZIP64 end record at ${at} lies beyond its locator`);
      const rec = view(await src.read(at, EOCD64_SIZE));
      if (rec.getUint32(0, true) !== SIG_EOCD64) throw bad(`no ZIP64 end record at offset ${at}`);
      if (rec.getUint32(16, true) !== 0 || rec.getUint32(20, true) !== 0) throw bad('a multi-disk archive');
      count = u64(rec, 32, () => bad('ZIP64 entry count too large'));
      cdSize = u64(rec, 40, () => bad('ZIP64 central directory size too large'));
      cdOffset = u64(rec, 48, () => bad('ZIP64 central directory offset too large'));
      endOfCd = at;
    } else if (disk !== 0 || cdDisk !== 0) {
      throw bad('a multi-disk archive');
    }
    if (cdOffset + cdSize > endOfCd) throw bad(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${endOfCd}`);
    if (cdSize > MAX_CENTRAL_DIR_BYTES) throw bad(`central directory of ${cdSize} bytes exceeds the ${MAX_CENTRAL_DIR_BYTES >> 20} MiB limit`);
    if (count * 46 > cdSize) throw bad(`${count} entries cannot fit in a central directory of ${cdSize} bytes`);

    const cd = await src.read(cdOffset, cdSize);
    const cv = view(cd);
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || cv.getUint32(p, true) !== SIG_CENTRAL) throw bad(`central directory entry ${i} is malformed`);
      const flags = cv.getUint16(p + 8, true);
      const method = cv.getUint16(p + 10, true);
      let compressedSize: number = cv.getUint32(p + 20, true);
      let size: number = cv.getUint32(p + 24, true);
      const nameLen = cv.getUint16(p + 28, true);
      const extraLen = cv.getUint16(p + 30, true);
      const commentLen = cv.getUint16(p + 32, true);
      let localHeaderOffset: number = cv.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdSize) throw bad(`central directory entry ${i} runs past the directory`);
      const nameBytes = cd.subarray(p + 46, p + 46 + nameLen);
      // Bit 11: UTF-8 names; otherwise CP437, of which torch's ASCII names are the common subset.
      const name = (flags & 0x800) ? new TextDecoder().decode(nameBytes) : latin1(nameBytes);
      const shown = quoted(name);
      if (flags & 1) throw bad(`entry ${shown} is encrypted`);

      // The ZIP64 extra field (id 1) holds, in this order, whichever of the three fields are 0xFFFFFFFF.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
        const id = cv.getUint16(e, true);
        const len = cv.getUint16(e + 2, true);
        if (e + 4 + len > p + 46 + nameLen + extraLen) throw bad(`entry ${shown} has a malformed extra field`);
        if (id === 1) {
          let q = e + 4;
          const next = () => {
            if (q + 8 > e + 4 + len) throw bad(`entry ${shown} has a short ZIP64 extra field`);
            const v = u64(cv, q, () => bad(`entry ${shown} has a size beyond 2^53`));
            q += 8;
            return v;
          };
          if (size === 0xffffffff) size = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
        }
        e += 4 + len;
      }
      if (localHeaderOffset + 30 + compressedSize > cdOffset) {
        throw bad(`entry ${shown} (${compressedSize} bytes at ${localHeaderOffset}) runs into the central directory at ${cdOffset}`);
      }
      if (method === 0 && compressedSize !== size) throw bad(`stored entry ${shown} has sizes ${compressedSize} and ${size}`);
      if (method === 8 && size > compressedSize * MAX_DEFLATE_RATIO + 1024) {
        throw bad(`deflated entry ${shown} declares ${size} bytes, more than its ${compressedSize} compressed bytes can hold`);
      }
      if (entries.has(name)) throw bad(`entry ${shown} appears twice`);
      entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p = end;
    }
    return new ZipReader(src, entries, cdOffset);
  }

  /**
   * `length` bytes of an entry's uncompressed data from `offset` (default: all of it), in a buffer
   * of their own. STORED entries are read straight from the source; DEFLATE entries are inflated
   * as far as offset + length (and the inflation is kept for the next read of the same entry).
   */
  async read(entry: ZipEntry, offset = 0, length = entry.size - offset): Promise<Uint8Array> {
    const name = this.source.name;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > entry.size) {
      throw new DnfError(`${name}: cannot read ${length} bytes at ${offset} of the ${entry.size}-byte entry ${quoted(entry.name)}; the file is damaged, so re-download it`);
    }
    const start = await this.dataStart(entry);
    if (entry.method === 0) return this.source.read(start + offset, length);
    if (entry.method !== 8) {
      throw new DnfError(`${name}: entry ${quoted(entry.name)} uses ZIP compression method ${entry.method}; only stored and deflated entries can be read, so re-save the checkpoint with torch.save`);
    }
    const run = this.queue.then(() => this.inflateTo(entry, start, offset + length));
    this.queue = run.catch(() => {});
    const inf = await run;
    return inf.out.slice(offset, offset + length);
  }

  /** Where an entry's data starts: after its local header, whose name and extra lengths may differ from the central copy. */
  private async dataStart(entry: ZipEntry): Promise<number> {
    const known = this.dataStarts.get(entry);
    if (known !== undefined) return known;
    const h = view(await this.source.read(entry.localHeaderOffset, 30));
    if (h.getUint32(0, true) !== SIG_LOCAL) {
      throw new DnfError(`${this.source.name}: entry ${quoted(entry.name)} has no local header at offset ${entry.localHeaderOffset}; the file is damaged, so re-download it`);
    }
    const start = entry.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
    if (start + entry.compressedSize > this.centralDirOffset) {
      throw new DnfError(`${this.source.name}: entry ${quoted(entry.name)} runs into the central directory; the file is damaged, so re-download it`);
    }
    this.dataStarts.set(entry, start);
    return start;
  }

  /** Inflates `entry` until at least `end` bytes are out (or all of it), continuing the last inflation when it is this entry's. */
  private async inflateTo(entry: ZipEntry, start: number, end: number): Promise<Inflation> {
    const fail = (what: string) => new DnfError(`${this.source.name}: cannot inflate entry ${quoted(entry.name)} (${what}); the file is damaged, so re-download it`);
    if (entry.size > MAX_INFLATED_BYTES) throw fail(`${entry.size} bytes exceeds the 2 GiB limit for compressed entries`);
    let inf = this.inflation;
    if (inf?.entry !== entry) {
      if (inf) { void inf.reader.cancel().catch(() => {}); this.inflation = undefined; }
      inf = await this.startInflation(entry, start, fail);
      this.inflation = inf;
    }
    const budget = INFLATE_BASE + INFLATE_PER_BYTE * this.source.size;
    if (this.inflatedTotal + Math.max(0, end - inf.filled) > budget) {
      throw new DnfError(`${this.source.name}: reading entry ${quoted(entry.name)} would inflate its compressed entries to more than ${Math.round(budget / 2 ** 20)} MiB, far more than a checkpoint of ${this.source.size} bytes holds (a damaged or hostile file); re-save it uncompressed with torch.save`);
    }
    try {
      while (inf.filled < end && !inf.done) {
        const { done, value } = await inf.reader.read();
        if (done) { inf.done = true; break; }
        if (inf.filled + value.byteLength > entry.size) throw fail(`inflates to more than the recorded ${entry.size} bytes`);
        this.inflatedTotal += value.byteLength;
        if (this.inflatedTotal > budget) {
          throw new DnfError(`${this.source.name}: reading entry ${quoted(entry.name)} would inflate its compressed entries to more than ${Math.round(budget / 2 ** 20)} MiB, far more than a checkpoint of ${this.source.size} bytes holds (a damaged or hostile file); re-save it uncompressed with torch.save`);
        }
        if (inf.filled + value.byteLength > inf.out.length) { // grow by doubling, up to the entry's size
          const grown = new Uint8Array(Math.min(entry.size, Math.max(inf.filled + value.byteLength, 2 * inf.out.length, 1 << 16)));
          grown.set(inf.out.subarray(0, inf.filled));
          inf.out = grown;
        }
        inf.out.set(value, inf.filled);
        inf.filled += value.byteLength;
      }
    } catch (e) {
      void inf.reader.cancel().catch(() => {});
      this.inflation = undefined;
      if (e instanceof DnfError) throw e;
      throw fail(oneLine(e));
    }
    if (inf.done && inf.filled !== entry.size) {
      this.inflation = undefined;
      throw fail(`inflates to ${inf.filled} bytes, not the recorded ${entry.size}`);
    }
    return inf;
  }

  private async startInflation(entry: ZipEntry, start: number, fail: (what: string) => DnfError): Promise<Inflation> {
    if (typeof DecompressionStream === 'undefined') throw fail('this platform has no DecompressionStream; re-save the checkpoint uncompressed with torch.save');
    const compressed = await this.source.read(start, entry.compressedSize);
    const ds = new DecompressionStream('deflate-raw');
    const writer = ds.writable.getWriter();
    // Fed piece by piece, each write waiting for the reader (backpressure), so that output is made
    // only as it is read. Errors surface through the reader; the writer's are only observed.
    void (async () => {
      for (let i = 0; i < compressed.length; i += INFLATE_PIECE) {
        await writer.write(new Uint8Array(compressed.subarray(i, i + INFLATE_PIECE))); // own, unshared buffers
      }
      await writer.close();
    })().catch(() => {});
    return { entry, out: new Uint8Array(0), filled: 0, done: false, reader: ds.readable.getReader() };
  }
}

/** Bytes as latin-1 text (in pieces: String.fromCharCode takes a bounded number of arguments). */
function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
}

function view(u8: Uint8Array): DataView {
  return new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** A little-endian u64 as a Number, or the error from `tooBig` when it exceeds 2^53. */
function u64(dv: DataView, at: number, tooBig: () => Error): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw tooBig();
  return Number(v);
}
