/**
 * Static shards for batch schedulers: `--shard I/N` gives worker I (0 <= I < N) the inputs whose
 * relative path hashes to I, so N workers started with I = 0..N-1 cover every input exactly once,
 * with no coordination beyond the shared output folder.
 *
 * The hash: the first 8 bytes of SHA-256 of the UTF-8 relative path (the `rel` that names the
 * output), read big-endian as an unsigned 64-bit integer, mod N. It depends on the path alone,
 * not on the other inputs or their order, so adding files to a folder moves none of the others:
 * only the new files land in some shard. SHA-256 spreads similar names (img_0001, img_0002...)
 * evenly, and 64 bits mod N is uniform to within N / 2^64.
 *
 * `--shard auto` reads the index from the scheduler's environment:
 * - Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX. Kubernetes puts no count in the environment,
 *   so N comes from `--shard auto/N` or DNF_SHARD_COUNT (set it to the Job's `completions`).
 * - Slurm job arrays: SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN (an array may start at 1,
 *   `--array=1-8`), N from SLURM_ARRAY_TASK_COUNT (or auto/N). An array with gaps or a step
 *   (`--array=0,2,5`, `0-15:4`) has no dense index: name the shard explicitly instead.
 */
import { createHash } from 'node:crypto';
import { DnfError } from '../../errors.js';

/** One worker's part: index in 0..count-1. */
export interface Shard {
  index: number;
  count: number;
}

/** The shard (0..count-1) that the input with relative path `rel` belongs to. */
export function shardOf(rel: string, count: number): number {
  const digest = createHash('sha256').update(rel, 'utf8').digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(count));
}

/** Whether the input with relative path `rel` is `shard`'s to do. */
export const inShard = (rel: string, shard: Shard): boolean => shardOf(rel, shard.count) === shard.index;

/** "2/4", as the CLI writes it. */
export const formatShard = (s: Shard): string => `${s.index}/${s.count}`;

/** A non-negative decimal integer, or null. */
function wholeNumber(text: string | undefined): number | null {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

const USAGE = 'use --shard I/N with 0 <= I < N (e.g. --shard 0/4), or --shard auto under a Kubernetes Indexed Job or a Slurm job array';

/** Checks index < count and count >= 1; `source` says where the numbers came from, for the message. */
function checked(index: number | null, count: number | null, source: string): Shard {
  if (count === null || count < 1) throw new DnfError(`${source}: the shard count must be a whole number of at least 1; ${USAGE}`, 2);
  if (index === null || index >= count) {
    throw new DnfError(`${source}: the shard index must be a whole number from 0 to ${count - 1}; ${USAGE}`, 2);
  }
  return { index, count };
}

/**
 * Parses `--shard`: "I/N", "auto" or "auto/N" (the count given, the index from the environment).
 * Throws a one-line DnfError (exit 2) for anything else, or when `auto` finds no scheduler.
 */
export function parseShard(spec: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const auto = /^auto(?:\/(.*))?$/.exec(spec.trim());
  if (!auto) {
    const m = /^([^/]*)\/([^/]*)$/.exec(spec.trim());
    if (!m) throw new DnfError(`--shard ${spec}: not I/N or auto; ${USAGE}`, 2);
    return checked(wholeNumber(m[1]), wholeNumber(m[2]), `--shard ${spec}`);
  }
  const given = auto[1] === undefined ? undefined : wholeNumber(auto[1]);
  if (given === null) throw new DnfError(`--shard ${spec}: the count after auto/ must be a whole number of at least 1; ${USAGE}`, 2);

  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const count = given ?? wholeNumber(env.DNF_SHARD_COUNT);
    if (count === null) {
      throw new DnfError(
        `--shard auto: JOB_COMPLETION_INDEX=${env.JOB_COMPLETION_INDEX} gives the index but Kubernetes gives no count; ` +
          'use --shard auto/N or set DNF_SHARD_COUNT to the Job\'s completions',
        2,
      );
    }
    return checked(wholeNumber(env.JOB_COMPLETION_INDEX), count, `JOB_COMPLETION_INDEX=${env.JOB_COMPLETION_INDEX}`);
  }
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = wholeNumber(env.SLURM_ARRAY_TASK_ID);
    const min = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : wholeNumber(env.SLURM_ARRAY_TASK_MIN);
    const count = given ?? wholeNumber(env.SLURM_ARRAY_TASK_COUNT);
    const source = `SLURM_ARRAY_TASK_ID=${env.SLURM_ARRAY_TASK_ID} (min ${env.SLURM_ARRAY_TASK_MIN ?? 0}, count ${given ?? env.SLURM_ARRAY_TASK_COUNT})`;
    return checked(id === null || min === null || id < min ? null : id - min, count, source);
  }
  throw new DnfError(`--shard ${spec}: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm job array) is set; ${USAGE}`, 2);
}
