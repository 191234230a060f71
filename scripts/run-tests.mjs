#!/usr/bin/env node
// Runs every test file (`src/**/*_test.ts` and `bench/**/*_test.ts`) with node's test runner through tsx.
// Usage: node scripts/run-tests.mjs [--unit] [path-substring ...]
//   --unit  skips the real-kernel tests (`*_kernel_test.ts`, `*_guest_test.ts`): for a quick loop without root.
// Real-kernel tests need root and the kernel tools (`npm run setup`); where something is missing each one
// skips itself with one line on stderr (src/lab/kernel_tools.ts) and this script ends with one
// summary line. KPROXY_TEST_REQUIRE_KERNEL=1 (CI) makes such a skip a failure. The exit code is the test
// run's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const args = process.argv.slice(2);
const unit = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));
const isKernelTest = (f) => /_(kernel|guest)_test\.ts$/.test(f);

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.name.endsWith('_test.ts')) out.push(path);
  }
  return out;
}

/** The summary of the skip log's JSON lines ({file, reason, missing}), one line. */
function skipSummary(logText) {
  const files = new Set();
  const missing = new Set();
  for (const line of logText.split('\n')) {
    if (line.trim() === '') continue;
    const record = JSON.parse(line);
    files.add(record.file);
    for (const m of record.missing ?? []) missing.add(m);
  }
  if (files.size === 0) {
    return process.env['KPROXY_TEST_REQUIRE_KERNEL'] === '1'
      ? 'kernel tests: none skipped (KPROXY_TEST_REQUIRE_KERNEL=1 fails a file that cannot run)'
      : 'kernel tests: all ran';
  }
  const needsRoot = missing.delete('root');
  const what = [...missing].sort();
  if (needsRoot) what.unshift('root');
  const count = `${files.size} file${files.size === 1 ? '' : 's'} skipped (missing: ${what.join(', ')})`;
  const setup = 'install what they need with: npm run setup';
  if (!needsRoot) return `kernel tests: ${count}; ${setup}`;
  if (what.length === 1) return `kernel tests: ${count}; run npm test as root`;
  return `kernel tests: ${count}; run npm test as root, after you ${setup} (as root)`;
}

let files = [...walk(join(root, 'src')), ...walk(join(root, 'bench'))].sort();
if (unit) files = files.filter((f) => !isKernelTest(f));
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
console.log(`run-tests: ${files.length} files`);
const logDir = mkdtempSync(join(tmpdir(), 'kproxy-test-skips-'));
const skipLog = join(logDir, 'skips.jsonl');
let status;
try {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', ...files.map((f) => relative(root, f))],
    { cwd: root, stdio: 'inherit', env: { ...process.env, KPROXY_TEST_SKIP_LOG: skipLog } },
  );
  status = result.status ?? 1;
  if (files.some(isKernelTest)) {
    let logText = '';
    try {
      logText = readFileSync(skipLog, 'utf8');
    } catch {
      /* no file skipped */
    }
    console.log(skipSummary(logText));
  } else if (unit) {
    console.log('kernel tests: not run (--unit)');
  }
} finally {
  rmSync(logDir, { recursive: true, force: true });
}
process.exit(status);
