// probeIpv6 against the real kernel, in a network namespace kpt-ip6probe-<pid> that this test creates and
// deletes: IPv6 is there in a fresh namespace, and reported disabled once the namespace's own
// net.ipv6.conf.all.disable_ipv6 is 1 (a per-namespace sysctl: the root namespace is not touched).
// Needs root, ip and sysctl, and a kernel with IPv6.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { kernelTestSkip } from '../lab/kernel_tools.ts';
import { createExec } from './exec.ts';

const skip =
  kernelTestSkip(import.meta.url, { tools: ['ip', 'sysctl'] }) ||
  (existsSync('/proc/net/if_inet6') ? false : 'needs a kernel with IPv6');

const NETNS = `kpt-ip6probe-${process.pid}`;
const MODULE = new URL('./ip_family_support.ts', import.meta.url).href;

describe('probeIpv6 in a network namespace', { skip }, () => {
  const host = createExec();
  const inNetns = createExec({ netns: NETNS });

  before(async () => {
    const r = await host('ip', ['netns', 'add', NETNS]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await host('ip', ['netns', 'del', NETNS]);
  });

  /** What probeIpv6 answers in a Node process inside the namespace (null: IPv6 is there). */
  async function probe(): Promise<string | null> {
    const script = `const m = await import(${JSON.stringify(MODULE)}); console.log(JSON.stringify((await m.probeIpv6()) ?? null));`;
    const r = await inNetns(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script],
      { signal: AbortSignal.timeout(30_000) },
    );
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as string | null;
  }

  it('finds IPv6 in a fresh namespace, and reports it disabled once the namespace disables it', async () => {
    assert.equal(await probe(), null);
    const r = await inNetns('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await probe(), 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)');
  });
});
