/**
 * `dnf queue push <inputs...> --redis URL --name NAME` and `dnf queue status --redis URL --name
 * NAME`: a work queue of image files on Redis (BullMQ), for `dnf worker`s on any machines that
 * come and go (src/node/queue/). push records the DNF settings (--format, --steps, --feature,
 * --antialias, --keep-ext) and every file's output name, decided over all the inputs as one plain
 * `dnf extract` decides them, and enqueues only files the queue has not seen (pushing again adds
 * nothing). status prints done / active / failed / waiting files and batches, the rate and ETA,
 * and the failed files with their messages; --json prints one JSON object instead.
 * Exit status: 0, 1 (status: some files or batches failed), 2 usage or setup error.
 */
import { Option, type Command } from 'commander';
import { DNF_FEATURES } from '../diffusion/dnf.js';
import { DEFAULT_ANTIALIAS } from '../pipeline/preprocess.js';
import { formatDuration, formatRate } from '../node/progress.js';
import type { QueueStatus } from '../node/queue/status.js';
import type { DnfQueue, QueueSettings } from '../node/queue/store.js';
import { DNF_FORMATS } from './extract.js';
import { checkDnfSettings, positiveInt } from './unet-options.js';

/** Files per batch by default: a few GPU batches, small enough that a lost worker costs little. */
export const DEFAULT_QUEUE_BATCH = 64;
export const DEFAULT_ATTEMPTS = 3;

interface PushCli {
  redis: string;
  name: string;
  batch: number;
  attempts: number;
  format: QueueSettings['format'];
  steps: number;
  feature: QueueSettings['feature'];
  antialias?: boolean;
  keepExt?: boolean;
}

/**
 * Opens the queue named on the command line, checked and connected (a DnfError, exit 2, otherwise);
 * `failFast` false (workers): once connected, calls wait through a Redis restart instead of failing.
 * The queue modules (BullMQ) load here, not with the CLI: importing BullMQ takes a few hundred ms
 * that every other command would pay.
 */
export async function openQueue(cli: { redis: string; name: string }, failFast = true): Promise<DnfQueue> {
  const { checkQueueName, checkRedisUrl, DnfQueue } = await import('../node/queue/store.js');
  const q = new DnfQueue(checkRedisUrl(cli.redis), checkQueueName(cli.name), failFast);
  try {
    await q.ready();
  } catch (e) {
    await q.close().catch(() => {});
    throw e;
  }
  return q;
}

export async function runPush(inputs: string[], cli: PushCli, say = (line: string) => process.stderr.write(`queue: ${line}\n`)): Promise<void> {
  const settings: QueueSettings = {
    format: cli.format, steps: cli.steps, feature: cli.feature, antialias: cli.antialias ?? DEFAULT_ANTIALIAS, keepExt: !!cli.keepExt,
  };
  checkDnfSettings(settings);
  const q = await openQueue(cli);
  const { describeSettings, pushInputs } = await import('../node/queue/push.js');
  try {
    const r = await pushInputs(q, inputs, { settings, batch: cli.batch, attempts: cli.attempts, say });
    say(
      r.added === 0
        ? `${cli.name}: all ${r.files} files were pushed before; nothing added`
        : `${cli.name}: ${r.added} of ${r.files} files added in ${r.batches} batches of up to ${cli.batch} (${describeSettings(settings)})`,
    );
  } finally {
    await q.close();
  }
}

/** The status as lines for people. */
export function statusLines(s: QueueStatus, show = 20): string[] {
  const f = s.files;
  const b = s.batches;
  const lines = [
    `${s.name}: files: ${f.done} done, ${f.active} active, ${f.failed} failed, ${f.waiting} waiting${f.inFailedBatches ? `, ${f.inFailedBatches} in failed batches` : ''} (of ${f.pushed} pushed)`,
    `${s.name}: batches: ${b.done} done, ${b.active} active, ${b.failed} failed, ${b.waiting} waiting${b.delayed ? `, ${b.delayed} delayed (retrying)` : ''}`,
    `${s.name}: ${s.rate > 0 ? `${formatRate(s.rate)} files/s over the last minutes` : 'no file finished in the last minutes'}` +
      (s.etaSeconds !== null ? `, ETA ${formatDuration(s.etaSeconds * 1000)}` : f.waiting + f.active === 0 ? ', nothing left' : ''),
  ];
  for (const x of s.failedFiles.slice(0, show)) lines.push(`${s.name}: failed: ${x.message}`);
  if (s.failedFiles.length > show) lines.push(`${s.name}: ... and ${s.failedFiles.length - show} more failed files (--json lists all)`);
  for (const x of s.failedBatches.slice(0, show)) lines.push(`${s.name}: failed batch ${x.id} (${x.files} files): ${x.reason}`);
  return lines;
}

export async function runStatus(cli: { redis: string; name: string; json?: boolean }): Promise<QueueStatus> {
  const q = await openQueue(cli);
  const { queueStatus } = await import('../node/queue/status.js');
  try {
    const s = await queueStatus(q);
    if (cli.json) process.stdout.write(`${JSON.stringify(s)}\n`);
    else for (const line of statusLines(s)) process.stdout.write(`${line}\n`);
    return s;
  } finally {
    await q.close();
  }
}

const redisOption = (cmd: Command) =>
  cmd
    .requiredOption('--redis <url>', 'the Redis server, e.g. redis://127.0.0.1:6379 (rediss:// for TLS; a password as redis://:PASS@HOST:PORT)')
    .requiredOption('--name <name>', 'the queue (letters, digits, . _ -): push, workers and status name the same one');

export function register(program: Command): void {
  const queue = program.command('queue').description('a work queue of images on Redis for `dnf worker`s on many machines: push inputs, show the status');

  const push = queue
    .command('push')
    .description('enqueue the images of files and folders in batches; files pushed before are not added again')
    .argument('<inputs...>', 'image files or folders (searched recursively, hidden files skipped); at the same paths on every worker\'s machine');
  redisOption(push)
    .option('--batch <n>', `files per batch, the unit a worker takes and acknowledges (default ${DEFAULT_QUEUE_BATCH})`, positiveInt('--batch'), DEFAULT_QUEUE_BATCH)
    .option('--attempts <n>', `tries of a batch whose processing fails as a whole before it is failed (default ${DEFAULT_ATTEMPTS}); a bad file fails alone and is not retried`, positiveInt('--attempts'), DEFAULT_ATTEMPTS)
    .addOption(new Option('--format <format>', 'png: the released 8-bit DNF; safetensors: float32 tensor "dnf" [3, H, W]').choices(DNF_FORMATS).default('png'))
    .option('--steps <k>', '0: the released DNF (eps at t = 0); K: a K-step DDIM inversion', (v: string) => (v === '0' ? 0 : positiveInt('--steps')(v)), 0)
    .addOption(new Option('--feature <which>', 'which noise estimate of the inversion: first, last, or mean').choices(DNF_FEATURES).default('first'))
    .option('--antialias', `resize with torch's antialiased bicubic${DEFAULT_ANTIALIAS ? ' (default)' : ''}`)
    .option('--no-antialias', `plain bicubic (a = -0.75)${DEFAULT_ANTIALIAS ? '' : ' (default)'}`)
    .option('--keep-ext', 'keep each input\'s extension in its output name (a.bmp -> a.bmp.png), as extract --keep-ext')
    .action(async (inputs: string[], cli: PushCli) => {
      await runPush(inputs, cli);
    });

  const status = queue.command('status').description('files and batches done, active, failed and waiting, with the rate and ETA; failed files with their messages');
  redisOption(status)
    .option('--json', 'one JSON object on stdout instead of lines')
    .action(async (cli: { redis: string; name: string; json?: boolean }) => {
      const s = await runStatus(cli);
      process.exitCode = s.files.failed > 0 || s.batches.failed > 0 ? 1 : 0;
    });
}
