/**
 * `dnf queue push`: the inputs' files into a queue, in batches (BullMQ jobs), each file once.
 *
 * Names: output names are decided over all the inputs of the push, as one plain `dnf extract` of
 * them decides (batch/plan.ts nameOutputs: clashing names keep their extension), and recorded per
 * file; workers only join them to their -o folder. So queue, shards and a plain run write the same
 * files.
 *
 * Idempotence is keyed by file: the queue remembers every input path pushed (store.ts), and a push
 * enqueues only files it has not seen, in batches of the new files in input order. Pushing the
 * same inputs again adds nothing; pushing after files were added enqueues just those. A new file
 * that would change the name of one pushed earlier (a.jpg beside a pushed a.png: both become
 * a.*.png) is refused, as is one whose name another pushed file holds: the earlier name may be
 * written already. --keep-ext from the first push keeps names independent of other files.
 *
 * Job ids are a hash of the batch's paths: were a push cut between adding its jobs and recording
 * its files, the next push forms the same batches again (if no file was added meanwhile) and
 * BullMQ ignores ids it has; otherwise a file may sit in two batches, and the second finds its
 * output written (resume) or writes the same bytes again.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { DnfError } from '../../errors.js';
import { collectInputs, IMAGE_EXTENSIONS } from '../batch/inputs.js';
import { nameOutputs, renamedNote } from '../batch/plan.js';
import type { DnfQueue, QueuedFile, QueueSettings } from './store.js';

export interface PushOptions {
  settings: QueueSettings;
  /** Files per batch (job). */
  batch: number;
  /** Tries per batch: a batch whose processing throws (or whose worker dies too often) fails after these. */
  attempts: number;
  /** Gets the notes of the push (renamed outputs). */
  say?: (line: string) => void;
}

export interface PushReport {
  /** Files found in the inputs. */
  files: number;
  /** Files new to the queue, and the batches they went into. */
  added: number;
  batches: number;
}

/** Where names are decided: a root no input lies in, so only the names relative to it matter. */
const NAMES_ROOT = resolve('/', '.dnf-queue-outputs');
/** Lookups and writes per Redis call. */
const CHUNK = 1000;

/** '--format png --steps 0 --feature first --antialias' for messages. */
export function describeSettings(s: QueueSettings): string {
  return `--format ${s.format} --steps ${s.steps} --feature ${s.feature} ${s.antialias ? '--antialias' : '--no-antialias'}${s.keepExt ? ' --keep-ext' : ''}`;
}

const sameSettings = (a: QueueSettings, b: QueueSettings) => describeSettings(a) === describeSettings(b);

/** The job id of a batch: its paths' hash (BullMQ ids must not contain ':' nor be integers). */
export function batchId(files: readonly QueuedFile[]): string {
  return `batch-${createHash('sha256').update(files.map((f) => f.path).join('\n'), 'utf8').digest('hex').slice(0, 32)}`;
}

/** The files of `inputs` with their output names, as extract names them. */
export async function queuedFiles(inputs: readonly string[], keepExt: boolean, format: string, say?: (line: string) => void): Promise<QueuedFile[]> {
  const items = await collectInputs(inputs, IMAGE_EXTENSIONS);
  const { planned, renamed } = nameOutputs(items, NAMES_ROOT, format, keepExt);
  const note = keepExt ? null : renamedNote(renamed);
  if (note && say) say(note);
  return planned.map((p) => ({ path: resolve(p.path), rel: p.rel, out: relative(NAMES_ROOT, p.output).split(sep).join('/') }));
}

/** Pushes the files of `inputs` that the queue has not seen; see the header. */
export async function pushInputs(q: DnfQueue, inputs: readonly string[], opts: PushOptions): Promise<PushReport> {
  const files = await queuedFiles(inputs, opts.settings.keepExt, opts.settings.format, opts.say);
  const recorded = (await q.settings(opts.settings))!;
  if (!sameSettings(recorded, opts.settings)) {
    throw new DnfError(
      `queue ${q.name} computes ${describeSettings(recorded)}, not ${describeSettings(opts.settings)}; push with the same settings, or into another queue (--name)`,
      2,
    );
  }

  const fresh: QueuedFile[] = [];
  for (let i = 0; i < files.length; i += CHUNK) {
    const chunk = files.slice(i, i + CHUNK);
    const [outs, sources] = await Promise.all([q.pushedOutputs(chunk.map((f) => f.path)), q.pushedSources(chunk.map((f) => f.out))]);
    chunk.forEach((f, k) => {
      const before = outs[k];
      if (before === f.out) return; // pushed before, same name
      if (before !== null) {
        throw new DnfError(
          `${f.path}: pushed to queue ${q.name} as ${before}, but beside the files now in its folder it is named ${f.out}; ` +
            'push the new files into another queue (--name), or use --keep-ext from the first push so names never depend on other files',
          2,
        );
      }
      if (sources[k] !== null && sources[k] !== f.path) {
        throw new DnfError(`${f.path} and ${sources[k]} (pushed earlier to queue ${q.name}) would both be written to ${f.out}; rename one of them, or push into another queue (--name)`, 2);
      }
      fresh.push(f);
    });
  }

  let batches = 0;
  const jobs = [];
  for (let i = 0; i < fresh.length; i += opts.batch) {
    const batch = fresh.slice(i, i + opts.batch);
    jobs.push({ name: 'dnf', data: { files: batch }, opts: { jobId: batchId(batch), attempts: opts.attempts, backoff: { type: 'exponential', delay: 5000 } } });
    batches++;
  }
  for (let i = 0; i < jobs.length; i += CHUNK / 10) await q.queue.addBulk(jobs.slice(i, i + CHUNK / 10));
  for (let i = 0; i < fresh.length; i += CHUNK) await q.addFiles(fresh.slice(i, i + CHUNK));
  const folders = [];
  for (const input of inputs) if ((await stat(input)).isDirectory()) folders.push(resolve(input));
  await q.addFolders(folders);
  return { files: files.length, added: fresh.length, batches };
}
