/**
 * The one seam through which kproxy runs kernel tools (iptables-restore, ipset, ipvsadm, conntrack, ip,
 * nft). Wrappers in kernel/ take an {@link Exec}; tests pass a fake or a namespaced exec.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { KproxyError } from '../contracts/errors.ts';

/** The result of one command. */
export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one command. */
export interface ExecOptions {
  /** Written to the command's standard input, then closed. */
  readonly input?: string | undefined;
  /** Aborts (kills) the command. */
  readonly signal?: AbortSignal | undefined;
}

/** Runs a command; resolves with its result whatever the exit code (callers decide what is an error). */
export type Exec = (command: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

/** How many lines of a failed command's stderr its {@link KernelError} message quotes. */
const STDERR_LINES = 5;

/**
 * A kernel tool failed, or could not be started: carries the command, its exit code (-1 when it never
 * ran) and its stderr, whose first lines the message quotes; `cause` keeps a spawn failure.
 */
export class KernelError extends KproxyError {
  override readonly name = 'KernelError';
  // Matched as it is by the restore-failure metric (metrics_observer.ts): never rename.
  override readonly code = 'KPROXY_KERNEL';
  /**
   * @param command the full command line, e.g. `iptables-restore --noflush`
   * @param exitCode its exit code, -1 when it could not be started
   * @param stderr everything it wrote to stderr (or the spawn error)
   * @param options `cause`: the spawn error, when there is one
   */
  constructor(
    readonly command: string,
    readonly exitCode: number,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    const head = stderr.split('\n').filter(Boolean).slice(0, STDERR_LINES).join(' | ');
    super(`Command failed: ${command} (exit ${exitCode}): ${head}`, options);
  }
}

/**
 * Runs a command and throws {@link KernelError} on a non-zero exit: the project's one run-or-throw (a
 * wrapper that must look at a failure first, e.g. to tell "already exists" apart, calls `exec` itself).
 *
 * @param exec the exec seam
 * @param command the program
 * @param args its arguments
 * @param options input and signal
 * @returns the result (exit code 0)
 * @throws {KernelError} on a non-zero exit; a command that could not be started rejects as the exec
 *   does (the real one: a {@link KernelError} with exit code -1 and the spawn error as `cause`)
 * @example await mustExec(exec, 'iptables-restore', ['--noflush'], { input: rules })
 */
export async function mustExec(
  exec: Exec,
  command: string,
  args: readonly string[],
  options?: ExecOptions,
): Promise<ExecResult> {
  const result = await exec(command, args, options);
  if (result.code !== 0) throw new KernelError([command, ...args].join(' '), result.code, result.stderr);
  return result;
}

/** Options of {@link createExec}. */
export interface CreateExecOptions {
  /** Run every command inside this network namespace (`ip netns exec NAME ...`); used by tests and lab. */
  readonly netns?: string | undefined;
}

/**
 * The real exec: spawns the program without a shell (arguments are never interpreted).
 *
 * @param options where to run
 * @returns an {@link Exec}
 * @example const exec = createExec({ netns: 'kpt-node-1' })
 */
export function createExec(options: CreateExecOptions = {}): Exec {
  const { netns } = options;
  return (command, args, execOptions = {}) => {
    const [file, argv] =
      netns === undefined ? [command, [...args]] : ['ip', ['netns', 'exec', netns, command, ...args]];
    return new Promise<ExecResult>((resolve, reject) => {
      const child = spawn(file, argv, {
        stdio: ['pipe', 'pipe', 'pipe'],
        signal: execOptions.signal,
        env: { ...process.env, LC_ALL: 'C' },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) =>
        reject(new KernelError([command, ...args].join(' '), -1, String(e), { cause: e })),
      );
      child.on('close', (code) =>
        resolve({
          code: code ?? -1,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        }),
      );
      child.stdin.on('error', () => {
        /* the command may exit before reading all input; its exit code tells */
      });
      child.stdin.end(execOptions.input ?? '');
    });
  };
}
