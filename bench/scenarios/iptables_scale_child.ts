/**
 * Runs the control-plane probe for the iptables mode (bench/control-plane-probe.ts --mode iptables; a
 * script, not a module, which replaced bench/iptables-scale.ts) as a child process and collects the JSON
 * line it prints per size.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { nodeModuleArgv } from '../../src/lab/node_child.ts';
import { BenchError } from '../tools/bench_error.ts';

const SCRIPT = new URL('../control-plane-probe.ts', import.meta.url);

/**
 * The JSON objects among a script's output lines (one per size; the rest is a table for humans).
 *
 * @param stdout the script's output
 * @returns the parsed objects, in order
 * @example jsonLines('{"services":1000}\n┌───┐\n') // [{ services: 1000 }]
 */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (value !== null && typeof value === 'object' && !Array.isArray(value))
        rows.push(value as Record<string, unknown>);
    } catch {
      /* a line of the human table that happens to start with a brace */
    }
  }
  return rows;
}

/**
 * Runs bench/control-plane-probe.ts --mode iptables.
 *
 * @param options sizes, endpoints per service, backend, and the overall time limit
 * @returns one row per size, as the script printed it
 * @throws {BenchError} when the script is missing, fails, or prints no row
 */
export async function runIptablesScale(options: {
  readonly sizes: readonly number[];
  readonly endpoints: number;
  readonly backend: 'legacy' | 'nft';
  readonly timeoutMs: number;
}): Promise<Record<string, unknown>[]> {
  try {
    await access(SCRIPT);
  } catch {
    throw new BenchError(`The control-plane probe is missing: ${fileURLToPath(SCRIPT)}`);
  }
  const [node, ...args] = nodeModuleArgv(SCRIPT.href, [
    '--mode',
    'iptables',
    '--sizes',
    options.sizes.join(','),
    '--endpoints',
    String(options.endpoints),
    '--backend',
    options.backend,
    '--partials',
    '3',
    '--timeout',
    String(Math.ceil(options.timeoutMs / 1000)),
  ]);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(node!, args, { timeout: options.timeoutMs, maxBuffer: 16 << 20 }, (error, out, err) => {
      if (error !== null) {
        const why = err.trim().split('\n').slice(0, 3).join(' | ') || error.message;
        reject(new BenchError(`bench/control-plane-probe.ts failed: ${why}`, { cause: error }));
      } else resolve(out);
    });
  });
  const rows = jsonLines(stdout);
  if (rows.length === 0) throw new BenchError('bench/control-plane-probe.ts printed no result line');
  return rows;
}
