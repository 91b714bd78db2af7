/**
 * Node-only file helpers: random-access reads through a FileHandle, and atomic writes (a temp file
 * in the same folder, renamed onto the target), so that no half-written file is ever left behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DnfError } from '../errors.js';
import {
  checkRange, encodeSafetensors, SafetensorsFile,
  type ByteSource, type TensorToWrite,
} from '../weights/safetensors.js';

/** A ByteSource over an open file; call close() when done. */
export type FileSource = ByteSource & { close(): Promise<void> };

/** One line for a failed fs call: the path, the reason in words, and what to do. */
function fsError(path: string, doing: 'read' | 'write', e: unknown): DnfError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const hint = doing === 'read' ? 'check the path' : 'check that the folder is writable and the disk has space';
  switch (code) {
    case 'ENOENT': return new DnfError(`${path}: no such file${doing === 'write' ? ' or folder' : ''}; ${hint}`);
    case 'EACCES': case 'EPERM': return new DnfError(`${path}: permission denied; ${hint} and its permissions`);
    case 'EISDIR': return new DnfError(`${path}: is a folder, not a file; ${hint}`);
    case 'ENOSPC': return new DnfError(`${path}: no space left on the disk; free some space and try again`);
    default: {
      const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ');
      return new DnfError(`${path}: cannot ${doing} (${why}); ${hint}`);
    }
  }
}

/** Opens `path` for random-access reads; a one-line DnfError when it is missing or unreadable. */
export async function openFileSource(path: string): Promise<FileSource> {
  let fh: FileHandle;
  let size: number;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw fsError(path, 'read', e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: st.isDirectory() ? 'EISDIR' : undefined });
    size = st.size;
  } catch (e) {
    await fh.close().catch(() => {});
    throw fsError(path, 'read', e);
  }

  let closed = false;
  return {
    name: path,
    size,
    async read(offset, length) {
      checkRange(path, size, offset, length);
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) { // FileHandle.read may return fewer bytes than asked: loop
        let n: number;
        try {
          ({ bytesRead: n } = await fh.read(buf, done, length - done, offset + done));
        } catch (e) {
          throw fsError(path, 'read', e);
        }
        if (n === 0) {
          throw new DnfError(`${path}: the file ended after ${offset + done} bytes, though it had ${size}; it changed while being read, so try again`);
        }
        done += n;
      }
      return buf;
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

/** Opens a safetensors file and validates its header; close() releases the file handle. */
export async function openSafetensors(path: string): Promise<{ file: SafetensorsFile; close(): Promise<void> }> {
  const src = await openFileSource(path);
  try {
    return { file: await SafetensorsFile.open(src), close: () => src.close() };
  } catch (e) {
    await src.close().catch(() => {});
    throw e;
  }
}

/** Longest host part of a temp name: a DNS label's limit, so names stay well within NAME_MAX. */
const MAX_TEMP_HOST = 63;

/**
 * This host's name as temp names carry it: characters outside [A-Za-z0-9-] (dots of a full name,
 * underscores) become '-', cut to 63 characters; 'host' when the name is empty. Machines sharing an
 * output folder over a network file system must have distinct host names for stale-temp cleanup
 * (batch/plan.ts removeStaleTemps) to tell their files apart.
 */
export function tempHost(name = hostname()): string {
  return name.replace(/[^A-Za-z0-9-]/g, '-').slice(0, MAX_TEMP_HOST) || 'host';
}

/**
 * Writes the chunks to `<path>.<host>.<pid>.<random>.tmp` beside `path` (creating the folder),
 * fsyncs it and renames it onto `path`. On any failure, including one thrown by `chunks`, the temp
 * file is removed and the error rethrown: `path` is either untouched or complete. Errors of the
 * iterable pass through unchanged; fs errors become one-line DnfErrors naming `path`.
 *
 * The host and pid in the name let a later run remove the temps of a killed run, and only its own
 * host's (another machine on a shared folder may be writing its temp now).
 *
 * fsync: the temp file is fsynced before the rename, since file systems may commit a rename before
 * the data (ext4, XFS and NFS write data back later): after a crash `path` could otherwise exist
 * with missing or zeroed content, and a safetensors file of the right size would pass for complete.
 * The folder is not fsynced after the rename: a rename lost in a crash leaves `path` absent, never
 * wrong, and a re-run (resume) or `dnf extract --verify` finds it and redoes it; a per-file folder
 * fsync would cost a round trip per output on a network file system for nothing more.
 */
export async function writeFileAtomic(
  path: string,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `${basename(path)}.${tempHost()}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  /** Runs an fs step, turning its failure into a DnfError about `path`. */
  const fs = async <T>(step: () => Promise<T>): Promise<T> => {
    try { return await step(); } catch (e) { throw fsError(path, 'write', e); }
  };

  await fs(() => mkdir(dir, { recursive: true }));
  const fh = await fs(() => open(tmp, 'wx'));
  let handleOpen = true;
  try {
    let position = 0;
    for await (const chunk of chunks) {
      let done = 0;
      while (done < chunk.byteLength) { // write() may be partial: loop
        const { bytesWritten } = await fs(() => fh.write(chunk, done, chunk.byteLength - done, position));
        done += bytesWritten;
        position += bytesWritten;
      }
    }
    await fs(() => fh.sync());
    handleOpen = false;
    await fs(() => fh.close());
    await fs(() => rename(tmp, path));
  } catch (e) {
    if (handleOpen) await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Writes tensors as a safetensors file atomically, streaming each tensor (no concatenation). */
export async function writeSafetensorsFile(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  let enc;
  try {
    enc = encodeSafetensors(tensors, metadata);
  } catch (e) {
    if (e instanceof DnfError) throw new DnfError(`${path}: ${e.message}`, e.exitCode);
    throw e;
  }
  await writeFileAtomic(path, [enc.header, ...enc.chunks]);
}
