import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BenchError } from './bench_error.ts';
import { ensureTools, findCommand } from './ensure_tools.ts';

describe('findCommand', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kpt-bench-tools-'));
    await writeFile(join(dir, 'kpt-fake-tool'), '#!/bin/sh\n');
    await chmod(join(dir, 'kpt-fake-tool'), 0o755);
    await writeFile(join(dir, 'kpt-not-executable'), '');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds an executable on the given PATH', async () => {
    assert.equal(await findCommand('kpt-fake-tool', `/nonexistent:${dir}`), join(dir, 'kpt-fake-tool'));
  });
  it('ignores files that are not executable', async () => {
    assert.equal(await findCommand('kpt-not-executable', dir), undefined);
  });
});

describe('ensureTools', () => {
  it('does nothing when every tool is there', async () => {
    assert.deepEqual(await ensureTools([{ command: 'sh', debianPackage: 'dash' }], { install: false }), []);
  });

  it('names what is missing and the exact command to install it when it may not install', async () => {
    await assert.rejects(
      ensureTools(
        [
          { command: 'sh', debianPackage: 'dash' },
          { command: 'kpt-no-such-tool-1', debianPackage: 'kpt-pkg-1' },
          { command: 'kpt-no-such-tool-2', debianPackage: 'kpt-pkg-2' },
        ],
        { install: false },
      ),
      (error: unknown) => {
        assert.ok(error instanceof BenchError);
        assert.equal(error.code, 'KPROXY_BENCH');
        assert.equal(
          error.message,
          'Missing tools: kpt-no-such-tool-1, kpt-no-such-tool-2: run the benchmark as root to install them, or run: apt-get install -y kpt-pkg-1 kpt-pkg-2',
        );
        return true;
      },
    );
  });
});
