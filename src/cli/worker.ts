/**
 * `dnf worker --redis URL --name NAME -o DIR`: takes batches of a queue that `dnf queue push`
 * filled, computes their DNFs with the queue's settings and this machine's UNet (--unet,
 * --model-config) and writes them under DIR as `dnf extract` does (src/node/queue/worker.ts:
 * atomic writes, finished outputs skipped, a bad file recorded and not retried, a dead worker's
 * batch re-delivered after --lock-seconds). Start as many as there are GPUs, on any machines that
 * see the inputs and DIR at the same paths. Without --exit-when-empty a worker waits for more
 * batches until Ctrl-C (the batch in flight goes back to the queue after its current GPU batch).
 * Exit status: 0, 1 some of this worker's files failed, 2 usage or setup error, 130 Ctrl-C.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { acquireGpu, releaseGpu } from '../node/acquire.js';
import { interruptOnSigint } from '../node/batch/interrupt.js';
import type { QueueWorkerReport } from '../node/queue/worker.js';
import type { DnfQueue, QueueSettings } from '../node/queue/store.js';
import { openQueue } from './queue.js';
import type { DdpmUnet } from '../models/ddpm-unet.js';
import { quantizedDnfs } from '../pipeline/dnf-images.js';
import { dnfWriter } from './extract.js';
import { loadUnet, positiveInt, resolveUnet } from './unet-options.js';

/** A dead worker's batch comes back after about twice this; a live worker renews its lock every half of it. */
export const DEFAULT_LOCK_SECONDS = 60;
/** How often a worker started before the first push looks for the queue's settings. */
const SETTINGS_POLL_MS = 2000;

export interface WorkerCli {
  redis: string;
  name: string;
  output: string;
  unet?: string;
  modelConfig?: string;
  batch?: number;
  lockSeconds: number;
  exitWhenEmpty?: boolean;
}

const say = (line: string) => process.stderr.write(`worker: ${line}\n`);

/** The queue's settings, waiting for the first push unless exitWhenEmpty (then null: nothing to do). */
async function settingsOf(q: DnfQueue, exitWhenEmpty: boolean, signal: AbortSignal): Promise<QueueSettings | null> {
  let announced = false;
  for (;;) {
    const s = await q.settings();
    if (s || exitWhenEmpty || signal.aborted) return s;
    if (!announced) say(`${q.name}: nothing pushed yet; waiting for \`dnf queue push\``);
    announced = true;
    await new Promise((r) => setTimeout(r, SETTINGS_POLL_MS));
  }
}

export async function runWorkerCli(cli: WorkerCli, backend: string | undefined): Promise<QueueWorkerReport> {
  const q = await openQueue(cli, false); // loads the queue modules (BullMQ) only now
  const { runQueueWorker, checkOutputFolder } = await import('../node/queue/worker.js');
  const { describeSettings } = await import('../node/queue/push.js');
  const interrupt = interruptOnSigint(say, 'worker');
  try {
    const settings = await settingsOf(q, !!cli.exitWhenEmpty, interrupt.signal);
    if (!settings) {
      say(`${q.name}: nothing pushed; nothing to do`);
      return { batches: 0, done: 0, skipped: 0, failed: 0, interrupted: interrupt.signal.aborted };
    }
    await checkOutputFolder(q, cli.output);
    const dnf = { steps: settings.steps, feature: settings.feature, antialias: settings.antialias };
    const setup = await resolveUnet({ unet: cli.unet, modelConfig: cli.modelConfig, ...dnf });
    if (setup.note) say(setup.note);
    const gpu = await acquireGpu({ backend });
    let unet: DdpmUnet | undefined;
    try {
      unet = await loadUnet(gpu, setup);
      const batchSize = cli.batch ?? unet.defaultBatch;
      // Compiles the GPU pipelines now: compiling holds the JavaScript thread, and while a batch is
      // held that would keep its lock from being renewed (the batch would go to another worker).
      const r = unet.config.resolution;
      await quantizedDnfs(unet, [{ width: r, height: r, data: new Uint8Array(r * r * 3) }], dnf);
      say(`${q.name}: ${describeSettings(settings)} into ${cli.output}; batch ${batchSize}, ${gpu.describe().backend}, ${basename(setup.path)}`);
      const report = await runQueueWorker({
        queue: q,
        output: cli.output,
        batchSize,
        ...dnfWriter(unet, { format: settings.format, ...dnf }, setup.path),
        lockMs: cli.lockSeconds * 1000,
        exitWhenEmpty: !!cli.exitWhenEmpty,
        signal: interrupt.signal,
      });
      say(`${q.name}: ${report.batches} batches, ${report.done} done, ${report.skipped} skipped (already done), ${report.failed} failed${report.interrupted ? '; stopped' : cli.exitWhenEmpty ? '; the queue is empty' : ''}`);
      return report;
    } finally {
      unet?.dispose();
      await releaseGpu(gpu);
    }
  } finally {
    interrupt.dispose();
    await q.close();
  }
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('take batches from a `dnf queue push` queue, compute their DNFs and write them into an output folder (many workers, on any machines)')
    .requiredOption('--redis <url>', 'the Redis server of the queue, e.g. redis://127.0.0.1:6379')
    .requiredOption('--name <name>', 'the queue, as given to `dnf queue push`')
    .requiredOption('-o, --output <dir>', 'the output folder (shared by the workers): each DNF goes to its input\'s relative path with the new extension, as extract writes')
    .option('--unet <file>', 'UNet weights as safetensors (default: $DNF_WEIGHTS, else lsun_bedroom.safetensors in the weights folder)')
    .option('--model-config <preset|file>', 'UNet config: a preset or a JSON file (default: the one the weights file records or its shapes imply)')
    .option('--batch <n>', 'images per GPU batch (default: as extract)', positiveInt('--batch'))
    .option('--lock-seconds <s>', `how long a batch stays with a worker that stopped answering before it goes to another (default ${DEFAULT_LOCK_SECONDS}); longer than the worker's longest GPU stall`, positiveInt('--lock-seconds'), DEFAULT_LOCK_SECONDS)
    .option('--exit-when-empty', 'exit once no batch is waiting or in work anywhere (default: wait for more until Ctrl-C)')
    .action(async (cli: WorkerCli) => {
      const report = await runWorkerCli(cli, program.opts().backend);
      process.exitCode = report.interrupted ? 130 : report.failed > 0 ? 1 : 0;
    });
}
