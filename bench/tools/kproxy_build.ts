/**
 * Which kproxy the benchmark runs: compiled with the project's own `tsc` into `.cache/bench-build/` (what
 * users run, and no TypeScript loader in the measured process's time or memory), or, when asked or when the
 * build emits nothing, the sources through tsx.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { KPROXY_ARGV } from '../../src/lab/kproxy_daemon.ts';

/** How to start kproxy, and what that is. */
export interface KproxyCommand {
  /** The command prefix: `[node, entry]` (then `run ...`). */
  readonly argv: readonly string[];
  /** `compiled (tsc)` or `source (tsx)`, for the results. */
  readonly build: string;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT_DIR = fileURLToPath(new URL('../../.cache/bench-build/', import.meta.url));

/**
 * Builds kproxy for the benchmark (incrementally), or picks the sources.
 *
 * @param options `fromSource` skips the build; `log` reports a fallback
 * @returns the command prefix
 */
export async function prepareKproxy(options: {
  readonly fromSource: boolean;
  readonly log: (line: string) => void;
}): Promise<KproxyCommand> {
  const source: KproxyCommand = {
    argv: KPROXY_ARGV,
    build: 'source (tsx)',
  };
  if (options.fromSource) return source;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const errors = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      [
        tsc,
        '-p',
        ROOT,
        '--outDir',
        OUT_DIR,
        '--incremental',
        '--tsBuildInfoFile',
        `${OUT_DIR}.tsbuildinfo`,
        '--sourceMap',
        'false',
      ],
      { timeout: 300_000, maxBuffer: 16 << 20 },
      (error, stdout) => resolve(error === null ? '' : stdout.trim().split('\n').slice(0, 3).join(' | ')),
    );
  });
  const entry = `${OUT_DIR}bin.js`;
  try {
    await access(entry);
  } catch {
    options.log(`kproxy build emitted nothing (${errors}): running the sources through tsx`);
    return source;
  }
  // tsc still emits when some file has a type error (another part of the project in progress).
  if (errors !== '') options.log(`kproxy build has type errors, compiled anyway: ${errors}`);
  return {
    argv: [process.execPath, entry],
    build: errors === '' ? 'compiled (tsc)' : 'compiled (tsc, with type errors)',
  };
}
