import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  DEBIAN_PACKAGES,
  findOnPath,
  GUEST_KERNEL,
  guestKernelReady,
  type KernelCheckOptions,
  kernelTestSkip,
  type SkipRecord,
} from './kernel_tools.ts';

describe('kernelTestSkip', () => {
  let dir = '';
  let bin = '';
  let repo = '';
  let sequence = 0;

  /** A fresh test file name under the fake repository (each file reports its skip once per process). */
  const testFile = (): string => join(repo, 'src', 'modes', `t${++sequence}_kernel_test.ts`);

  function tool(name: string, mode = 0o755): void {
    writeFileSync(join(bin, name), '#!/bin/sh\n');
    chmodSync(join(bin, name), mode);
  }

  /** A machine: root with PATH = bin only, lines collected, no skip log unless given. */
  function machine(over: Partial<KernelCheckOptions> & { env?: Record<string, string> } = {}) {
    const lines: string[] = [];
    const options: KernelCheckOptions = {
      uid: 0,
      repoRoot: repo,
      writeLine: (line) => lines.push(line),
      ...over,
      env: { PATH: bin, ...over.env },
    };
    return { lines, options };
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kpt-kernel-tools-'));
    bin = join(dir, 'bin');
    repo = join(dir, 'repo');
    mkdirSync(bin);
    mkdirSync(join(repo, 'src', 'modes'), { recursive: true });
    writeFileSync(join(repo, 'package.json'), '{}\n');
    tool('ip');
    tool('iptables-save');
    tool('not-executable', 0o644);
    mkdirSync(join(bin, 'a-directory'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs (false) as root with every tool on PATH, and prints nothing', () => {
    const { lines, options } = machine();
    assert.equal(kernelTestSkip(testFile(), { tools: ['ip', 'iptables-save'] }, options), false);
    assert.deepEqual(lines, []);
  });

  it('skips a non-root run with "needs root", in one line naming the file relative to the repository', () => {
    const { lines, options } = machine({ uid: 1000 });
    const file = testFile();
    assert.equal(kernelTestSkip(pathToFileURL(file), { tools: ['ip'] }, options), 'needs root');
    assert.deepEqual(lines, [`kernel test skipped: src/modes/t${sequence}_kernel_test.ts needs root`]);
  });

  it('treats a process without a uid (no getuid) as not root', () => {
    const { options } = machine({ uid: undefined });
    assert.equal(kernelTestSkip(testFile(), { tools: [] }, options), 'needs root');
  });

  it('names every missing tool, sorted, once: absent, not executable, or a directory', () => {
    const { lines, options } = machine();
    const reason = kernelTestSkip(
      testFile(),
      { tools: ['ip', 'ipset', 'not-executable', 'conntrack', 'a-directory', 'ipset'] },
      options,
    );
    assert.equal(reason, 'needs a-directory, conntrack, ipset, not-executable (not installed)');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^kernel test skipped: src\/modes\/t\d+_kernel_test\.ts needs a-directory, /);
  });

  it('looks only at the PATH it is given', () => {
    const { options } = machine({ env: { PATH: `${join(dir, 'nowhere')}::/nonexistent` } });
    assert.equal(kernelTestSkip(testFile(), { tools: ['ip'] }, options), 'needs ip (not installed)');
    assert.equal(findOnPath('ip', bin), join(bin, 'ip'));
    assert.equal(findOnPath(join(bin, 'ip'), ''), join(bin, 'ip'), 'a path is taken as it is');
    assert.equal(findOnPath('ip', ''), undefined);
  });

  it('needs the prepared guest kernel: .cache/guest/current naming a version with READY', () => {
    const { options } = machine();
    const needs = { tools: ['ip'], guestKernel: true };
    const cache = join(repo, '.cache', 'guest');
    assert.equal(guestKernelReady(repo), false);
    assert.equal(
      kernelTestSkip(testFile(), needs, options),
      `needs the ${GUEST_KERNEL} (not prepared: scripts/guest-setup.sh)`,
    );
    mkdirSync(join(cache, '6.1.0-57-amd64'), { recursive: true });
    writeFileSync(join(cache, 'current'), '6.1.0-57-amd64\n');
    assert.equal(guestKernelReady(repo), false, 'a build without READY is not complete');
    writeFileSync(join(cache, '6.1.0-57-amd64', 'READY'), 'linux-image-6.1.0-57-amd64\n');
    assert.equal(guestKernelReady(repo), true);
    assert.equal(kernelTestSkip(testFile(), needs, options), false);
    rmSync(join(repo, '.cache'), { recursive: true });
  });

  it('says everything that is missing at once', () => {
    const { options } = machine({ uid: 1000 });
    assert.equal(
      kernelTestSkip(testFile(), { tools: ['wrk'], guestKernel: true }, options),
      `needs root; needs wrk (not installed); needs the ${GUEST_KERNEL} (not prepared: scripts/guest-setup.sh)`,
    );
  });

  it('appends one JSON line per skipped file to KPROXY_TEST_SKIP_LOG, with the Debian packages missing (one program named per package)', () => {
    const log = join(dir, 'skips.jsonl');
    const { lines, options } = machine({ uid: 1000, env: { KPROXY_TEST_SKIP_LOG: log } });
    const file = testFile();
    kernelTestSkip(
      file,
      { tools: ['ip', 'sysctl', 'iptables-legacy-restore', 'iptables-nft-save'] },
      options,
    );
    kernelTestSkip(file, { tools: ['ip', 'sysctl'] }, options);
    kernelTestSkip(testFile(), { tools: ['conntrack'], guestKernel: true }, options);
    const records = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SkipRecord);
    assert.deepEqual(records, [
      {
        file: `src/modes/t${sequence - 1}_kernel_test.ts`,
        reason: 'needs root; needs iptables-legacy-restore, sysctl (not installed)',
        missing: ['root', 'iptables', 'procps'],
      },
      {
        file: `src/modes/t${sequence}_kernel_test.ts`,
        reason: `needs root; needs conntrack (not installed); needs the ${GUEST_KERNEL} (not prepared: scripts/guest-setup.sh)`,
        missing: ['root', 'conntrack', GUEST_KERNEL],
      },
    ]);
    assert.equal(lines.length, 2, 'a file with two top-level suites reports its skip once');
  });

  it('throws instead of skipping with KPROXY_TEST_REQUIRE_KERNEL=1, naming the file and what is missing', () => {
    const log = join(dir, 'required.jsonl');
    const { lines, options } = machine({
      env: { KPROXY_TEST_REQUIRE_KERNEL: '1', KPROXY_TEST_SKIP_LOG: log },
    });
    assert.throws(
      () => kernelTestSkip(testFile(), { tools: ['ipset'] }, options),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(
          error.message,
          /^kernel test cannot run: src\/modes\/t\d+_kernel_test\.ts needs ipset \(not installed\); KPROXY_TEST_REQUIRE_KERNEL=1 makes this a failure/,
        );
        return true;
      },
    );
    assert.deepEqual(lines, [], 'a failure is not reported as a skip');
    assert.throws(() => readFileSync(log), { code: 'ENOENT' });
    assert.equal(
      kernelTestSkip(testFile(), { tools: ['ip'] }, options),
      false,
      'and runs when nothing is missing',
    );
  });

  it('knows a Debian package for every tool, and scripts/setup.sh installs each of them', () => {
    const setup = readFileSync(new URL('../../scripts/setup.sh', import.meta.url), 'utf8');
    const list = /^packages="([^"]*)"/m.exec(setup);
    assert.ok(list !== null, 'setup.sh names its packages in packages="..."');
    const installed = new Set(list[1]!.split(/\s+/));
    for (const [tool, pkg] of Object.entries(DEBIAN_PACKAGES))
      assert.ok(installed.has(pkg), `${tool}: ${pkg}`);
  });
});
