/**
 * kproxy's version: the `version` of its package.json, found by walking up from where the code runs
 * (`src/cli/` and the compiled `dist/cli/` are two directories below the package root, the benchmark's
 * build in `.cache/bench-build/cli/` three).
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/**
 * The package version.
 *
 * @returns e.g. `0.1.0`
 * @example io.out(`kproxy ${kproxyVersion()}\n`)
 */
export function kproxyVersion(): string {
  for (const up of ['../../', '../../../', '../../../../']) {
    let text: string;
    try {
      text = readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8');
    } catch {
      continue;
    }
    const { name, version } = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (name === 'kproxy') return typeof version === 'string' ? version : 'unknown';
  }
  return 'unknown';
}
