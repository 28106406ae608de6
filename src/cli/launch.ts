// `dsdnet train ... --nproc-per-node N`: starts N worker processes of the same command on this machine, as torchrun
// does (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT in their environment, the cores shared among them),
// and supervises them: when one fails, the others are stopped and the launcher exits non-zero, naming the rank and
// how to resume. Ctrl-C and SIGTERM are passed on (the ranks save, then all exit with the signal's code); a launcher
// that is killed outright takes its workers with it, since each one stops when its IPC channel to the launcher closes.
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism, constants } from 'node:os';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** The command that continues the run after a failure, for the message. */
  resumeCommand: string;
}

/** The flags that configure the launcher, removed from what the workers run. */
export const LAUNCHER_FLAGS = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'];

export function workerArguments(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag] = argv[i].split('=');
    if (LAUNCHER_FLAGS.includes(flag)) {
      if (!argv[i].includes('=')) i++;
      continue;
    }
    out.push(argv[i]);
  }
  return out;
}

/** How long the other ranks have, after one fails, to stop by themselves before they are signalled. */
const STOP_GRACE_MS = 3_000;

/** Runs the workers to the end; resolves to the exit code the launcher should have. */
export function launchWorkers(script: string, args: readonly string[], options: LaunchOptions): Promise<number> {
  const { nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, resumeCommand } = options;
  const worldSize = nprocPerNode * nnodes;
  const threads = Math.max(1, Math.floor(availableParallelism() / nprocPerNode));
  const children: ChildProcess[] = [];
  let failure: string | null = null;
  // The others first get a moment to stop by themselves: their next collective fails at once on the lost peer and
  // they say so, where a SIGTERM racing that failure could end a rank before it has printed why. A rank that has not
  // stopped then gets SIGTERM (it saves between steps, or exits before training), and SIGKILL if stuck in native code.
  const stopOthers = (): void => {
    const signalRunning = (signal: NodeJS.Signals): void =>
      children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill(signal));
    // A stop signal passed on meanwhile (Ctrl-C) is the one the ranks save on: a SIGTERM after it would be a second.
    setTimeout(() => received === null && signalRunning('SIGTERM'), STOP_GRACE_MS).unref();
    setTimeout(() => signalRunning('SIGKILL'), STOP_GRACE_MS + 10_000).unref();
  };
  let received: NodeJS.Signals | null = null;
  const forward = (signal: NodeJS.Signals): void => {
    received = signal;
    children.forEach((c) => c.exitCode === null && c.kill(signal));
  };
  // A rank stopped by the signal passed on (killed by it before training, or exiting with 128 + its number after
  // saving) has not failed.
  const stoppedBySignal = (code: number | null, signal: NodeJS.Signals | null): boolean =>
    received !== null && (signal === received || code === 128 + constants.signals[received]);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    let running = nprocPerNode;
    for (let local = 0; local < nprocPerNode; local++) {
      const rank = nodeRank * nprocPerNode + local;
      const env = {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(local),
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        DSDNET_NUM_THREADS: String(threads),
      };
      // Each worker has a process group of its own, so that a terminal's Ctrl-C reaches only the launcher, which
      // passes it on once (a second SIGINT would stop a worker before it saves).
      const child = spawn(process.execPath, [script, ...args], {
        env,
        detached: true,
        stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', 'inherit', 'ipc'],
      });
      children.push(child);
      child.on('exit', (code, signal) => {
        running--;
        if ((code !== 0 || signal !== null) && failure === null && !stoppedBySignal(code, signal)) {
          failure = `rank ${rank} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`;
          process.stderr.write(
            `dsdnet launch: ${failure}; stopping the other ranks. The last checkpoint is kept: continue with ${resumeCommand}\n`,
          );
          stopOthers();
        }
        if (running === 0) {
          process.off('SIGINT', forward);
          process.off('SIGTERM', forward);
          resolve(failure !== null ? 1 : received !== null ? 128 + constants.signals[received] : 0);
        }
      });
    }
  });
}
