/**
 * Claims on outputs, so that runs sharing an output folder (two terminals, or machines on one
 * shared disk) never compute the same item twice. Before working on an item a run creates
 * `<output>.claim` with O_EXCL (only one creator can succeed, on local and NFSv3+ file systems
 * alike), holding "host pid"; it removes the claim once the output is written, the item failed,
 * or the run ends. A claim is stale when its host is this one and its process is gone (a run
 * killed with kill -9): it is taken over. A claim of another host is left alone: that host may be
 * working on it. After taking a claim the output is checked again, since another run may have
 * finished it between planning and claiming.
 */
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

export type ClaimResult = 'claimed' | 'done' | 'busy';

const host = hostname();
/** A claim file still empty after this long was left by a run killed as it claimed. */
const UNWRITTEN_CLAIM_MS = 10 * 60_000;

export class OutputClaims {
  private readonly held = new Set<string>();

  /** `isComplete(output)` tells whether an output exists and is whole. */
  constructor(private readonly isComplete: (output: string) => Promise<boolean>) {}

  /** Claims `output`: 'claimed' (work on it, then release), 'done' (finished by another run), 'busy' (another run has it). */
  async take(output: string): Promise<ClaimResult> {
    const claim = `${output}.claim`;
    await mkdir(dirname(output), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(claim, 'wx');
        try {
          await fh.writeFile(`${host} ${process.pid}\n`);
        } finally {
          await fh.close();
        }
        this.held.add(output);
        if (await this.isComplete(output)) {
          await this.release(output);
          return 'done';
        }
        return 'claimed';
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        if (attempt > 0 || !(await isStaleClaim(claim))) return 'busy';
        await unlink(claim).catch(() => {}); // a dead run's claim: take it over
      }
    }
    return 'busy';
  }

  /** Gives up the claim on `output` (no-op when not held). */
  async release(output: string): Promise<void> {
    if (!this.held.delete(output)) return;
    await unlink(`${output}.claim`).catch(() => {});
  }

  /** Gives up every claim still held (the end of a run, interrupted or not). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((o) => this.release(o)));
  }
}

/** Whether a claim file was left by a process of this host that no longer runs. */
export async function isStaleClaim(claim: string): Promise<boolean> {
  const text = await readFile(claim, 'utf8').catch(() => null);
  if (text === null) return true; // removed meanwhile: try again
  const m = /^(\S+) (\d+)\n$/.exec(text);
  if (m) return m[1] === host && !processRuns(Number(m[2]));
  // Not written yet (its creator is between open and write) or unreadable: stale only when old.
  const age = await stat(claim).then((s) => Date.now() - s.mtimeMs, () => Infinity);
  return age > UNWRITTEN_CLAIM_MS;
}

/** Whether a process with this id exists on this host (signal 0 checks without sending anything). */
export function processRuns(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}
