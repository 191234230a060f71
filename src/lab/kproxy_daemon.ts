/**
 * Starts the real `kproxy` command (from the TypeScript sources, through tsx) inside a lab namespace, as
 * the end-to-end tests drive it, and keeps everything it prints.
 *
 * @module
 */
import { join } from 'node:path';
import type { Lab, LabProcess } from './lab.ts';

const BIN = join(import.meta.dirname, '..', 'bin.ts');

/** A kproxy process in a lab namespace. */
export interface KproxyProcess extends LabProcess {
  /** Everything it printed so far (stdout and stderr, interleaved as received). */
  output(): string;
}

/**
 * Runs `kproxy ARGS...` in a namespace of the lab (killed by `lab.destroy()` at the latest).
 *
 * @param lab the lab
 * @param ns one of its namespaces (usually `lab.node.ns`)
 * @param args kproxy's arguments, e.g. `['run', '--proxy-mode', 'iptables', '--manifests', dir]`
 * @param options extra environment (e.g. a PATH with fault-injecting wrappers first)
 * @returns the process, with its output
 * @example const daemon = spawnKproxy(lab, lab.node.ns, ['run', '--proxy-mode', 'userspace', '--manifests', dir])
 */
export function spawnKproxy(
  lab: Lab,
  ns: string,
  args: readonly string[],
  options: { readonly env?: Readonly<Record<string, string>> } = {},
): KproxyProcess {
  const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const argv = [
    ...(env.length > 0 ? ['env', ...env] : []),
    process.execPath,
    '--import',
    'tsx',
    BIN,
    ...args,
  ];
  const child = lab.spawn(ns, argv);
  let output = '';
  for (const stream of [child.child.stdout, child.child.stderr]) {
    stream?.on('data', (b: Buffer) => {
      output += b.toString();
    });
  }
  return { ...child, output: () => output };
}

/** The argv prefix that runs kproxy from the sources, for one-shot commands through `lab.exec`. */
export const KPROXY_ARGV: readonly string[] = [process.execPath, '--import', 'tsx', BIN];
