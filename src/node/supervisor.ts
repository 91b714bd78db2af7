/**
 * The `dnf` command runs its work in a child process and stays beside it as a small supervisor,
 * for two things one process cannot do for itself:
 *
 *   - Dawn's native code writes notices straight to file descriptor 2. It clamps two limits of
 *     every adapter it enumerates whose driver reports more than Dawn supports (Mesa's GL: 90 and
 *     80; many Vulkan drivers: 500000) and says so ("Warning: maxDynamic... artificially reduced
 *     from 90 to 16 ...") before any device is requested, so no choice of requested limits avoids
 *     them, and Node cannot redirect a descriptor around a native call.
 *     The child's stderr passes through here, and exactly those known lines (DAWN_NOISE) are
 *     dropped; every other byte, Dawn's validation errors included, goes through unchanged and
 *     at once (a partial line is held back only while it could still become a noise line).
 *   - Ctrl-C must be acknowledged at once, but the child's JavaScript thread can be held for
 *     seconds by a synchronous Dawn call (on the GL backend a submit runs the whole batch on the
 *     calling thread). The supervisor's thread is always free: a batch job tells it over IPC
 *     which line to print on the first SIGINT (see interrupt.ts), and it prints that line
 *     immediately, then passes the signal on.
 *
 * The child runs in its own process group, so a terminal's Ctrl-C reaches it once, through the
 * supervisor; SIGINT, SIGTERM and SIGHUP sent to the supervisor are passed on the same way, and
 * its exit status (or the signal that ended it) becomes the supervisor's, and a supervisor killed
 * outright takes the child with it (followSupervisor). Whether stderr is a
 * terminal, and its width, travel in DNF_STDERR_TTY / DNF_STDERR_COLUMNS (the child sees a pipe).
 * DNF_STDERR_FILTER=0 runs the command in one process, unsupervised.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Dawn notices that carry no information for a user; each must match a whole line. */
export const DAWN_NOISE: RegExp[] = [
  /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/,
];
const NOISE_PREFIX = 'Warning: maxDynamic';

/** The environment variable that marks the supervised child. */
export const SUPERVISED_ENV = 'DNF_SUPERVISED';

/** Messages the child sends: the line to print on the first SIGINT, or null for none. */
export interface SupervisorMessage {
  sigintNotice: string | null;
}

/**
 * A line filter for a byte stream: `push` takes chunks, `end` flushes; `write` receives what
 * passes, as soon as it can be told apart from the noise.
 */
export function noiseFilter(write: (text: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  const flushLines = () => {
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!DAWN_NOISE.some((re) => re.test(line))) write(`${line}\n`);
    }
    // Hold a partial line only while it may still turn into a noise line.
    if (pending && !(NOISE_PREFIX.startsWith(pending) || pending.startsWith(NOISE_PREFIX))) {
      write(pending);
      pending = '';
    }
  };
  return {
    push(chunk) {
      pending += chunk;
      flushLines();
    },
    end() {
      if (pending && !DAWN_NOISE.some((re) => re.test(pending))) write(pending);
      pending = '';
    },
  };
}

/** Whether this process is the supervised child (then it does the work itself). */
export function isSupervisedChild(): boolean {
  return process.env[SUPERVISED_ENV] === '1';
}

/**
 * In the supervised child: makes process.stderr report the supervisor's terminal, so progress
 * bars draw as they would unsupervised.
 */
export function adoptSupervisorTerminal(): void {
  if (!isSupervisedChild() || process.env.DNF_STDERR_TTY !== '1') return;
  const err = process.stderr as NodeJS.WriteStream & { isTTY: boolean; columns: number };
  err.isTTY = true;
  const columns = Number(process.env.DNF_STDERR_COLUMNS);
  if (columns > 0) err.columns = columns;
}

/**
 * In the supervised child: ends this process as soon as its supervisor is gone (a `kill -9` of the
 * `dnf` process the user sees, say), as if the signal had reached it too, rather than leaving it
 * to run on as an orphan. The IPC channel closing is the sign; it is noticed at the next turn of
 * the event loop, so after the GPU call in flight at most.
 */
export function followSupervisor(): void {
  if (!isSupervisedChild() || !process.connected) return;
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}

/** In the supervised child: tells the supervisor what to print on the first Ctrl-C. */
export function announceSigintNotice(line: string | null): boolean {
  if (!isSupervisedChild() || !process.send || !process.connected) return false;
  process.send({ sigintNotice: line } satisfies SupervisorMessage);
  return true;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs `node <script> <args>` supervised; resolves to the exit status to use. */
export function runSupervised(script: string, args: string[]): Promise<number> {
  const stderr = process.stderr;
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    detached: process.platform !== 'win32',
    env: {
      ...process.env,
      [SUPERVISED_ENV]: '1',
      DNF_STDERR_TTY: stderr.isTTY ? '1' : '',
      DNF_STDERR_COLUMNS: stderr.isTTY ? String(stderr.columns ?? '') : '',
    },
  });
  let notice: string | null = null;
  let interrupted = false;
  child.on('message', (m: SupervisorMessage) => {
    if (m && 'sigintNotice' in m) notice = m.sigintNotice;
  });
  const filter = noiseFilter((text) => stderr.write(text));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => filter.push(chunk));

  const handlers = FORWARDED.map((sig) => {
    const handler = () => {
      if (sig === 'SIGINT' && !interrupted && notice) stderr.write(`${stderr.isTTY ? '\r\x1b[K' : ''}${notice}\n`);
      if (sig === 'SIGINT') interrupted = true;
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });

  return new Promise((resolve) => {
    child.on('error', (err) => {
      stderr.write(`dnf: cannot start the engine process: ${err.message}\n`);
      resolve(2);
    });
    child.on('close', (code, signal) => {
      filter.end();
      for (const [sig, handler] of handlers) process.off(sig, handler);
      if (signal) {
        // End the same way, so a shell sees 130 for Ctrl-C as it would without the supervisor.
        process.kill(process.pid, signal);
        resolve(128 + (constants.signals[signal] ?? 0));
      } else {
        resolve(code ?? 1);
      }
    });
  });
}
