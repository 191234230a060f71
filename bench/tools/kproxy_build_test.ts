/**
 * The benchmark's kproxy build starts: it lives in `.cache/bench-build/`, a level deeper below the
 * package root than `dist/`, and once failed to find package.json from there, so that every kproxy target
 * of `npm run bench` was "not measured".
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { prepareKproxy } from './kproxy_build.ts';

describe('prepareKproxy', () => {
  it('builds a kproxy that starts and knows its version', async () => {
    const kproxy = await prepareKproxy({ fromSource: false, log: () => {} });
    assert.match(kproxy.build, /^compiled/);
    const [node, ...args] = kproxy.argv;
    const { stdout } = await promisify(execFile)(node!, [...args, '--version'], { timeout: 60_000 });
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.match(stdout, new RegExp(version.replaceAll('.', '\\.')));
  });
});
