/**
 * The Debian tools the benchmark drives (wrk, iperf3, haproxy): found on PATH, installed with apt-get when
 * missing and running as root, or reported exactly when they cannot be installed.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { BenchError } from './bench_error.ts';

/** A command and the Debian package that provides it. */
export interface BenchTool {
  readonly command: string;
  readonly debianPackage: string;
}

/** What the data-path benchmark needs. */
export const DATA_PATH_TOOLS: readonly BenchTool[] = [
  { command: 'wrk', debianPackage: 'wrk' },
  { command: 'iperf3', debianPackage: 'iperf3' },
  { command: 'haproxy', debianPackage: 'haproxy' },
];

/** sbin directories are searched too: haproxy lives in /usr/sbin, which a non-login PATH may lack. */
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * Finds a command on PATH (and the sbin directories).
 *
 * @param command a program name
 * @param path the PATH to search (default: this process's)
 * @returns its full path, or undefined
 * @example await findCommand('wrk') // '/usr/bin/wrk'
 */
export async function findCommand(
  command: string,
  path = process.env['PATH'] ?? '',
): Promise<string | undefined> {
  for (const dir of [...path.split(':').filter(Boolean), ...EXTRA_DIRS]) {
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** Options of {@link ensureTools}. */
export interface EnsureToolsOptions {
  /** May apt-get install what is missing (default: when running as root). */
  readonly install?: boolean | undefined;
  /** Progress lines. */
  readonly log?: ((line: string) => void) | undefined;
}

/**
 * Makes sure every tool is there: installs the missing ones with apt-get when allowed, else fails with the
 * exact command that would install them.
 *
 * @param tools the tools
 * @param options install permission and progress output
 * @returns the Debian packages it installed (empty when everything was there)
 * @throws {BenchError} naming the missing tools and the command to install them
 * @example await ensureTools(DATA_PATH_TOOLS, { log: console.log })
 */
export async function ensureTools(
  tools: readonly BenchTool[],
  options: EnsureToolsOptions = {},
): Promise<string[]> {
  const missing = await missingTools(tools);
  if (missing.length === 0) return [];
  const packages = missing.map((t) => t.debianPackage);
  const install = options.install ?? process.getuid?.() === 0;
  const howTo = `apt-get install -y ${packages.join(' ')}`;
  if (!install) {
    throw new BenchError(
      `Missing tools: ${missing.map((t) => t.command).join(', ')}: run the benchmark as root to install them, or run: ${howTo}`,
    );
  }
  options.log?.(`Installing ${packages.join(' ')} with apt-get`);
  try {
    await aptGet(['install', '-y', '--no-install-recommends', ...packages]);
  } catch {
    // A fresh container often has no package lists yet.
    await aptGet(['update']);
    await aptGet(['install', '-y', '--no-install-recommends', ...packages]);
  }
  const still = await missingTools(tools);
  if (still.length > 0) {
    throw new BenchError(
      `Missing tools after apt-get: ${still.map((t) => t.command).join(', ')}: run: ${howTo}`,
    );
  }
  return packages;
}

async function missingTools(tools: readonly BenchTool[]): Promise<BenchTool[]> {
  const found = await Promise.all(tools.map((t) => findCommand(t.command)));
  return tools.filter((_, i) => found[i] === undefined);
}

function aptGet(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'apt-get',
      args,
      {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        timeout: 15 * 60_000,
        maxBuffer: 16 << 20,
      },
      (error, _stdout, stderr) => {
        if (error === null) resolve();
        else
          reject(
            new BenchError(
              `apt-get ${args.join(' ')} failed: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
              {
                cause: error,
              },
            ),
          );
      },
    );
  });
}
