// The golden scripts of plan_golden_test.ts (and the IPv6 and dual-stack ones of dual_stack_test.ts), checked by the kernel: `nft -c -f` (parsed and validated by
// the kernel, nothing committed) for each, then applied for real one after another, so that the
// add/flush form is shown to work over a table that already exists. Only inside a network namespace
// kpt-nftc-<pid> that the test creates and deletes; needs root and nft.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createExec, type Exec } from '../../kernel/exec.ts';
import { kernelTestSkip } from '../../lab/kernel_tools.ts';
import { SCENARIOS } from '../common/testing/scenarios.ts';
import { DUAL_STACK_SCENARIO, IPV6_SCENARIOS } from './testing/ipv6_scenarios.ts';

const skip = kernelTestSkip(import.meta.url, { tools: ['ip', 'nft'] });

const NETNS = `kpt-nftc-${process.pid}`;

function golden(name: string): string {
  return readFileSync(new URL(`./testdata/${name}.golden`, import.meta.url), 'utf8');
}

describe('nftables golden scripts on a real kernel', { skip }, () => {
  const host = createExec();
  let exec: Exec;

  before(async () => {
    const r = await host('ip', ['netns', 'add', NETNS]);
    assert.equal(r.code, 0, r.stderr);
    exec = createExec({ netns: NETNS });
  });
  after(async () => {
    await host('ip', ['netns', 'del', NETNS]);
  });

  for (const s of [...SCENARIOS, ...IPV6_SCENARIOS, DUAL_STACK_SCENARIO]) {
    it(`nft -c accepts ${s.name}`, async () => {
      const r = await exec('nft', ['-c', '-f', '-'], { input: golden(s.name) });
      assert.equal(r.code, 0, r.stderr);
    });
  }

  it('applies every script in turn over the table the previous one left', async () => {
    for (const s of SCENARIOS) {
      const r = await exec('nft', ['-f', '-'], { input: golden(s.name) });
      assert.equal(r.code, 0, `${s.name}: ${r.stderr}`);
    }
    const listed = await exec('nft', ['list', 'chain', 'ip', 'kube-proxy', 'services']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /vmap @service-nodeports/);
  });
});
