/**
 * A DNF work queue on Redis: BullMQ's queue of batches (jobs), plus what the queue keeps beside
 * them, so that workers on any machine write what one plain `dnf extract` would and `dnf queue
 * status` can count files:
 *
 * - `dnf:NAME:dnf:settings`: the DNF settings of the queue (format, steps, feature, antialias,
 *   keep-ext) as JSON, fixed by the first push; a later push with other settings is refused.
 * - `dnf:NAME:dnf:files` (input path -> output name) and `dnf:NAME:dnf:outputs` (output name ->
 *   input path): every file ever pushed, so a push adds only files not seen before (push.ts).
 * - `dnf:NAME:dnf:folders`: the input folders pushed (a worker refuses an output folder inside one).
 * - `dnf:NAME:dnf:results`: per finished batch (job id) what its worker did (BatchResult).
 * - `dnf:NAME:dnf:failed`: input path -> the one-line message of a file that could not be done.
 *
 * Keys live under BullMQ's `dnf:NAME:` (the prefix is 'dnf'), after a `dnf:` segment: BullMQ's own
 * keys there are its lists and job ids, and job ids cannot contain ':'. Paths are absolute: every
 * machine must see the inputs and outputs at the same paths (one shared volume, mounted alike).
 */
import { Queue } from 'bullmq';
import { DnfError } from '../../errors.js';

/** What every worker of a queue computes, decided at the first push. */
export interface QueueSettings {
  format: 'png' | 'safetensors';
  steps: number;
  feature: 'first' | 'last' | 'mean';
  antialias: boolean;
  keepExt: boolean;
}

/** One file of a batch: the input, its relative path (as extract's) and its output name under the worker's -o. */
export interface QueuedFile {
  path: string;
  rel: string;
  out: string;
}

/** A job's data. */
export interface BatchData {
  files: QueuedFile[];
}

/** What a worker did with a batch (recorded in the results hash and as the job's return value). */
export interface BatchResult {
  /** Outputs written. */
  done: number;
  /** Outputs that existed complete already. */
  skipped: number;
  failed: number;
  /** When the batch finished (ms since the epoch) and how long it took. */
  at: number;
  ms: number;
  /** The worker's name (host and pid). */
  worker: string;
}

export const PREFIX = 'dnf';

/** The names BullMQ accepts (no ':') that read well in commands and keys. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Checks --name; a DnfError (exit 2) otherwise. */
export function checkQueueName(name: string): string {
  if (!NAME.test(name)) {
    throw new DnfError(`--name ${name}: a queue name is letters, digits, '.', '_' and '-' (at most 100, starting with a letter or digit); e.g. --name genimage-train`, 2);
  }
  return name;
}

/** Checks --redis: a redis:// or rediss:// URL; a DnfError (exit 2) otherwise. */
export function checkRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DnfError(`--redis ${url}: not a URL; give redis://HOST:PORT (e.g. redis://127.0.0.1:6379)`, 2);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new DnfError(`--redis ${url}: not a redis:// or rediss:// URL; give redis://HOST:PORT (e.g. redis://127.0.0.1:6379)`, 2);
  }
  return url;
}

/** BullMQ's connection options for `url`; `failFast`: give up after a few refused connects (push, status) instead of retrying forever (workers). */
export function connectionOptions(url: string, failFast: boolean) {
  return failFast
    ? { url, maxRetriesPerRequest: 1, retryStrategy: (times: number) => (times > 3 ? null : 200 * times) }
    : { url, maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(10_000, 500 * times) };
}

type RedisClient = Awaited<ReturnType<Queue['getBackend']>['client']>;

/** Lua scripts (each atomic on the server) for what the queue keeps beside BullMQ's jobs. */
const SCRIPTS: Record<string, { numberOfKeys: number; lua: string }> = {
  // The settings, set by the first push: returns the settings in force.
  dnfSettings: {
    numberOfKeys: 1,
    lua: `local cur = redis.call('GET', KEYS[1])
if cur then return cur end
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1]) end
return ARGV[1]`,
  },
  // Records pushed files: ARGV = path1, out1, path2, out2, ... into files (path -> out) and outputs (out -> path).
  dnfAddFiles: {
    numberOfKeys: 2,
    lua: `for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i])
end
return #ARGV / 2`,
  },
  // A batch's result: ARGV = job id, result JSON, then 'failed' path message pairs, then 'done' paths.
  dnfRecord: {
    numberOfKeys: 2,
    lua: `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local nfailed = tonumber(ARGV[3])
for i = 0, nfailed - 1 do redis.call('HSET', KEYS[2], ARGV[4 + 2 * i], ARGV[5 + 2 * i]) end
for i = 4 + 2 * nfailed, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
return 1`,
  },
  // Counts: files pushed, files failed.
  dnfCounts: {
    numberOfKeys: 2,
    lua: `return {redis.call('HLEN', KEYS[1]), redis.call('HLEN', KEYS[2])}`,
  },
};

/** A queue by name: BullMQ's Queue and the keys beside it. Close it when done. */
export class DnfQueue {
  readonly queue: Queue<BatchData, BatchResult>;
  private clientPromise: Promise<RedisClient> | null = null;

  constructor(
    readonly url: string,
    readonly name: string,
    failFast = true,
  ) {
    this.queue = new Queue<BatchData, BatchResult>(name, { connection: connectionOptions(url, failFast), prefix: PREFIX });
    this.queue.on('error', (e) => (this.lastError = e instanceof Error ? e.message : String(e))); // surfaces through ready() and the calls
  }

  private lastError = '';

  /** Waits for the connection: a DnfError (exit 2) naming the URL when Redis cannot be reached within `ms`. */
  async ready(ms = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer')), ms);
    });
    try {
      await Promise.race([this.queue.waitUntilReady(), timeout]);
    } catch (e) {
      const why = this.lastError || (e instanceof Error ? e.message : String(e));
      throw new DnfError(`--redis ${this.url}: cannot reach Redis (${why}); check that redis-server runs there and the URL (host, port, password)`, 2);
    } finally {
      clearTimeout(timer);
    }
  }

  key(part: 'settings' | 'files' | 'outputs' | 'folders' | 'results' | 'failed'): string {
    return `${PREFIX}:${this.name}:dnf:${part}`;
  }

  private async client(): Promise<RedisClient> {
    this.clientPromise ??= this.queue.getBackend().client.then((c) => {
      for (const [name, def] of Object.entries(SCRIPTS)) c.defineCommand(name, def);
      return c;
    });
    return this.clientPromise;
  }

  /** The settings in force: `proposed` when the queue had none (they are recorded), else the recorded ones. */
  async settings(proposed?: QueueSettings): Promise<QueueSettings | null> {
    const c = await this.client();
    const text = (await c.runCommand('dnfSettings', [this.key('settings'), proposed ? JSON.stringify(proposed) : ''])) as string;
    return text ? (JSON.parse(text) as QueueSettings) : null;
  }

  /** For each path, the output name it was pushed with (null: never pushed). */
  async pushedOutputs(paths: readonly string[]): Promise<Array<string | null>> {
    return paths.length ? (await this.client()).hmget(this.key('files'), ...paths) : [];
  }

  /** For each output name, the input path that was pushed to it (null: none). */
  async pushedSources(outs: readonly string[]): Promise<Array<string | null>> {
    return outs.length ? (await this.client()).hmget(this.key('outputs'), ...outs) : [];
  }

  async addFiles(files: readonly QueuedFile[]): Promise<void> {
    if (!files.length) return;
    const c = await this.client();
    await c.runCommand('dnfAddFiles', [this.key('files'), this.key('outputs'), ...files.flatMap((f) => [f.path, f.out])]);
  }

  async addFolders(folders: readonly string[]): Promise<void> {
    if (folders.length) await (await this.client()).hset(this.key('folders'), Object.fromEntries(folders.map((f) => [f, '1'])));
  }

  async folders(): Promise<string[]> {
    return Object.keys(await (await this.client()).hgetall(this.key('folders')));
  }

  /** Records a batch's result, its failed files' messages, and clears old failures of files now done. */
  async record(jobId: string, result: BatchResult, failed: ReadonlyArray<{ path: string; message: string }>, done: readonly string[]): Promise<void> {
    const c = await this.client();
    await c.runCommand('dnfRecord', [
      this.key('results'), this.key('failed'), jobId, JSON.stringify(result), String(failed.length),
      ...failed.flatMap((f) => [f.path, f.message]), ...done,
    ]);
  }

  async results(): Promise<Map<string, BatchResult>> {
    const all = await (await this.client()).hgetall(this.key('results'));
    return new Map(Object.entries(all).map(([id, text]) => [id, JSON.parse(text) as BatchResult]));
  }

  /** Failed files, path -> message. */
  async failedFiles(): Promise<Record<string, string>> {
    return (await this.client()).hgetall(this.key('failed'));
  }

  /** Files pushed and files failed. */
  async counts(): Promise<{ files: number; failed: number }> {
    const [files, failed] = (await (await this.client()).runCommand('dnfCounts', [this.key('files'), this.key('failed')])) as [number, number];
    return { files, failed };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
