// Keeps the README's "kube-proxy flags" table true: what it calls supported or ignored, `kproxy run`
// accepts; what it calls refused, `kproxy run` does not know; every ignored flag is listed as ignored.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { IGNORED_KUBE_PROXY_FLAGS } from './ignored_flags.ts';
import { buildProgram } from './main.ts';

const README = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

/** The table's rows: every flag of the first cell, and the verdict that starts the second. */
function rows(): { flags: string[]; verdict: string }[] {
  const start = README.indexOf('\n## kube-proxy flags\n');
  assert.ok(start >= 0, 'README has a "kube-proxy flags" section');
  const section = README.slice(start + 1, README.indexOf('\n## ', start + 1));
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => {
      const [first = '', second = ''] = l.slice(1).split(' | ');
      const flags = [...first.matchAll(/`(-[^`]+)`/g)].flatMap((m) => (m[1] ?? '').split('/'));
      return { flags, verdict: second.trim().split(/[ :(]/, 1)[0] ?? '' };
    });
}

describe("the README's kube-proxy flag table", () => {
  const run = buildProgram({ out: () => {}, err: () => {} }).commands.find((c) => c.name() === 'run');
  const known = new Set(run?.options.flatMap((o) => [o.long, o.short]).filter(Boolean));
  known.add('--version');

  it('says supported or ignored only of flags `run` accepts, refused only of flags it does not', () => {
    const table = rows();
    assert.ok(table.length > 20, `${table.length} rows`);
    for (const { flags, verdict } of table) {
      assert.ok(['supported', 'ignored', 'refused'].includes(verdict), `${flags.join(' ')}: ${verdict}`);
      for (const flag of flags) {
        assert.equal(known.has(flag), verdict !== 'refused', `${flag} is ${verdict}`);
      }
    }
  });

  it('lists every flag kproxy accepts and ignores as ignored', () => {
    const ignored = new Set(rows().flatMap((r) => (r.verdict === 'ignored' ? r.flags : [])));
    for (const f of IGNORED_KUBE_PROXY_FLAGS) assert.ok(ignored.has(`--${f.name}`), `--${f.name}`);
  });
});
