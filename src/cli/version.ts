/**
 * kproxy's version: the `version` of its package.json, read where the code runs (from `src/cli/` and from
 * the compiled `dist/cli/`, the package root is two directories up).
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
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const { version } = JSON.parse(text) as { version?: unknown };
  return typeof version === 'string' ? version : 'unknown';
}
