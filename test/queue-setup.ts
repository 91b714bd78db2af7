/**
 * Shared by the queue tests: a real redis-server (Debian's) on 127.0.0.1 and a free port, without
 * persistence, started for a test file and stopped after it; and `dnf` CLI processes run in the
 * background (a worker that a test kills, several at once).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { repo } from './detect-setup.js';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Whether something accepts connections on the port. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/** Starts `redis-server` on 127.0.0.1 and a free port; resolves once it accepts connections. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let failed: Error | null = null;
  proc.once('error', (e) => (failed = e));
  for (let i = 0; i < 100 && !(await accepts(port)); i++) {
    if (failed) throw new Error(`redis-server did not start (${(failed as Error).message}); install Debian's redis-server`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export interface Background {
  proc: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exit: Promise<number | null>;
  /** SIGKILL to the process and its process group. */
  killHard(): void;
}

/**
 * Runs `node bin/dnf.js args` in `cwd` in the background, in a process group of its own.
 * `unsupervised`: the command runs in that one process (DNF_STDERR_FILTER=0), so a kill reaches
 * the process that computes and writes at once, not the supervisor first.
 */
export function dnfBackground(cwd: string, args: string[], unsupervised = false): Background {
  const env = unsupervised ? { ...process.env, DNF_STDERR_FILTER: '0' } : process.env;
  const proc = spawn(process.execPath, [join(repo, 'bin', 'dnf.js'), ...args], { cwd, env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  return {
    proc,
    stderr: () => err,
    exit,
    killHard: () => process.kill(-proc.pid!, 'SIGKILL'),
  };
}
