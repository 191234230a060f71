#!/usr/bin/env node
// Runs every test file (`src/**/*_test.ts` and `bench/**/*_test.ts`) with node's test runner through tsx.
// Usage: node scripts/run-tests.mjs [--unit] [path-substring ...]
//   --unit  skips the real-kernel tests (`*_kernel_test.ts`, `*_guest_test.ts`): for a quick loop without root.
// Real-kernel tests need root; CI runs as root and runs them all.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const args = process.argv.slice(2);
const unit = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.name.endsWith('_test.ts')) out.push(path);
  }
  return out;
}

let files = [...walk(join(root, 'src')), ...walk(join(root, 'bench'))].sort();
if (unit) files = files.filter((f) => !/_(kernel|guest)_test\.ts$/.test(f));
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
console.log(`run-tests: ${files.length} files`);
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...files.map((f) => relative(root, f))],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
