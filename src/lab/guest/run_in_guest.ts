/**
 * Runs one command inside a throwaway guest kernel that has IPVS, ipset, dummy and veth (the host kernel
 * has none of them): qemu (TCG) boots the cached Debian kernel with a busybox init that mounts the host's
 * `/` read-only over 9p under a tmpfs overlay, chroots into it and runs the command. Everything the
 * command changes (kernel state, files) is gone when the guest powers off.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GuestError } from './guest_error.ts';
import { ensureGuestImage } from './guest_image.ts';
import { shellQuote } from './shell_quote.ts';

/** Options of {@link runInGuest}. */
export interface RunInGuestOptions {
  /** Kills the guest (and rejects) after this long, boot included. */
  readonly timeoutMs: number;
  /** Guest memory (default 1024). */
  readonly memoryMb?: number | undefined;
  /** Guest CPUs (default 1: the host has two cores shared with other work). */
  readonly cpus?: number | undefined;
  /** The command's working directory, a host path (default: this process's). */
  readonly cwd?: string | undefined;
  /** Extra environment; the guest starts from a clean one (PATH, HOME, TERM, LC_ALL). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** What the command did in the guest. */
export interface GuestResult {
  /** The command's exit code (126/127 when it could not be started, 128+n when killed by signal n). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The guest's console (kernel messages), for diagnosis. */
  readonly console: string;
  /** From spawning qemu to its exit. */
  readonly durationMs: number;
}

const qboot = '/usr/share/qemu/qboot.rom';
const consoleTailLines = 40;

/**
 * Boots a guest, runs `argv` in it (chrooted into an overlay of the host's root, as root), and returns
 * its exit code and output. Builds the guest cache first if needed (scripts/guest-setup.sh).
 *
 * @param argv the program and its arguments (a host path or a name on PATH)
 * @param options timeout, memory, cwd, env
 * @returns exit code, stdout, stderr
 * @throws {GuestError} when the guest cannot be built or booted, times out, or reports no result
 * @example
 * const { code, stdout } = await runInGuest(['ipvsadm', '-Ln'], { timeoutMs: 60_000 })
 */
export async function runInGuest(argv: readonly string[], options: RunInGuestOptions): Promise<GuestResult> {
  if (argv.length === 0) throw new TypeError('Cannot run an empty command in the guest');
  const image = await ensureGuestImage();
  const out = await mkdtemp(join(tmpdir(), 'kpt-guest-'));
  try {
    await writeFile(join(out, 'cmd'), commandScript(argv, options));
    const started = performance.now();
    let consoleText: string;
    try {
      consoleText = await runQemu(qemuArgs(image, out, options), options, argv);
    } catch (error) {
      // What the command wrote before it was killed is the best clue: add it to the error.
      if (!(error instanceof GuestError)) throw error;
      const partial = await partialOutput(out);
      throw partial === ''
        ? error
        : new GuestError(`${error.message}: output so far:\n${partial}`, error.console, { cause: error });
    }
    const durationMs = Math.round(performance.now() - started);
    const failure = /KPT-GUEST-FAIL: (.*)/.exec(consoleText);
    if (failure !== null) throw new GuestError(`The guest init failed: ${failure[1]}`, tail(consoleText));
    let rc: string;
    try {
      rc = await readFile(join(out, 'rc'), 'utf8');
    } catch (error) {
      throw new GuestError(`The guest ended without a result: ${argv.join(' ')}`, tail(consoleText), {
        cause: error,
      });
    }
    return {
      code: Number.parseInt(rc.trim(), 10),
      stdout: await readFile(join(out, 'stdout'), 'utf8'),
      stderr: await readFile(join(out, 'stderr'), 'utf8'),
      console: consoleText,
      durationMs,
    };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** The script the guest init runs: cd, environment, exec, every word quoted. */
function commandScript(argv: readonly string[], options: RunInGuestOptions): string {
  const lines = [`cd ${shellQuote(options.cwd ?? process.cwd())} || exit 125`];
  // The host's node may live outside the default PATH (nvm, /usr/local): put it first.
  lines.push(`export PATH=${shellQuote(dirname(process.execPath))}:"$PATH"`);
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new TypeError(`Invalid environment variable name: ${name}`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  lines.push(`exec ${argv.map(shellQuote).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

function qemuArgs(
  image: Awaited<ReturnType<typeof ensureGuestImage>>,
  out: string,
  options: RunInGuestOptions,
) {
  // These paths go on the kernel command line and into qemu's comma-separated option syntax.
  for (const path of [image.modules, out]) {
    if (!/^[A-Za-z0-9_./+-]+$/.test(path)) throw new GuestError(`Unsupported path for the guest: ${path}`);
  }
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    // Loading the dummy module would otherwise create dummy0 in the root namespace.
    'dummy.numdummies=0',
    `kpt.modules=${image.modules}`,
  ].join(' ');
  return [
    ...['-accel', process.env['KPROXY_GUEST_ACCEL'] ?? 'tcg', '-machine', 'q35', '-cpu', 'max'],
    ...['-smp', String(options.cpus ?? 1), '-m', String(options.memoryMb ?? 1024)],
    ...(existsSync(qboot) ? ['-bios', qboot] : []),
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', 'stdio'],
    ...['-kernel', image.vmlinux, '-initrd', image.initramfs, '-append', append],
    ...['-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'],
    ...['-virtfs', `local,path=${out},mount_tag=kptout,security_model=none`],
  ];
}

/** Runs qemu to its exit and returns what the guest printed on its console. */
function runQemu(
  args: readonly string[],
  options: RunInGuestOptions,
  argv: readonly string[],
): Promise<string> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const onAbort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.on('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      reject(
        new GuestError('Cannot start qemu-system-x86_64 (apt-get install qemu-system-x86)', '', {
          cause: error,
        }),
      );
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      const text = Buffer.concat(chunks).toString('utf8');
      if (signal.aborted) {
        const why = timeout.aborted ? `timed out after ${options.timeoutMs} ms` : 'was aborted';
        reject(new GuestError(`The guest ${why}: ${argv.join(' ')}`, tail(text), { cause: signal.reason }));
      } else if (code !== 0) {
        reject(new GuestError(`qemu-system-x86_64 failed: exit ${code}`, tail(text)));
      } else {
        resolve(text);
      }
    });
  });
}

async function partialOutput(out: string): Promise<string> {
  const parts: string[] = [];
  for (const name of ['stdout', 'stderr']) {
    const text = await readFile(join(out, name), 'utf8').catch(() => '');
    if (text !== '') parts.push(`[${name}]\n${tail(text)}`);
  }
  return parts.join('\n');
}

function tail(text: string): string {
  return text.split('\n').slice(-consoleTailLines).join('\n');
}
