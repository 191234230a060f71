/**
 * The strict fake answers the tools' command lines as the real tools do: the real seam ({@link iptablesFor})
 * over an exec routed to {@link FakeIptables.answer} sees what it would see on a host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Exec } from '../exec.ts';
import { iptablesFor, probeIptablesTools } from '../iptables.ts';
import { RestoreError } from '../iptables_state.ts';
import { FakeIptables, type IptablesTool } from './iptables_fake.ts';

/** An exec that runs `iptables-nft[-save|-restore]` against the fake, and nothing else. */
function execOn(fake: FakeIptables): Exec {
  return async (command, args, options) => {
    const m = /^iptables-nft(?:-(save|restore))?$/.exec(command);
    assert.ok(m !== null, `unexpected command ${command}`);
    return fake.answer((m[1] ?? 'iptables') as IptablesTool, args, options?.input ?? '');
  };
}

describe('FakeIptables.answer (behind the real seam)', () => {
  it('restores, saves and checks chains as the tools do', async () => {
    const fake = new FakeIptables('nft');
    const ipt = iptablesFor(execOn(fake), 'nft');
    await ipt.restore('nat', '*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j RETURN\nCOMMIT\n', { noflush: true });
    assert.deepEqual(fake.chain('nat', 'KUBE-A'), ['-j RETURN']);
    assert.match(await ipt.save('nat'), /^-A KUBE-A -j RETURN$/m);
    assert.equal(await ipt.chainExists('nat', 'KUBE-A'), true);
    assert.equal(await ipt.chainExists('nat', 'KUBE-B'), false);
    assert.equal(await ipt.version(), '1.8.9');
    assert.equal(await probeIptablesTools(execOn(fake), 'nft'), '1.8.9');
    assert.deepEqual(fake.restores, [
      { table: 'nat', input: '*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j RETURN\nCOMMIT\n', noflush: true },
    ]);
  });

  it('fails a refused restore with the line number, leaving the table as it was', async () => {
    const fake = new FakeIptables('nft');
    const ipt = iptablesFor(execOn(fake), 'nft');
    const error = await ipt
      .restore('nat', '*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j KUBE-NOPE\nCOMMIT\n', { noflush: true })
      .catch((e: unknown) => e);
    assert.ok(error instanceof RestoreError);
    assert.equal(error.line, 3);
    assert.match(error.message, /-A KUBE-A -j KUBE-NOPE/);
    assert.equal(fake.chain('nat', 'KUBE-A'), undefined);
  });

  it('tells which sets its rules match, and refuses arguments the tools would not take', () => {
    const fake = new FakeIptables('nft');
    const input = '*filter\n:KUBE-A - [0:0]\n-A KUBE-A -m set --match-set KUBE-X dst -j ACCEPT\nCOMMIT\n';
    assert.equal(fake.answer('restore', ['-w', '5', '--noflush'], input).code, 0);
    assert.equal(fake.referencesSet('KUBE-X'), true);
    assert.equal(fake.referencesSet('KUBE-X-2'), false);
    assert.deepEqual(fake.chains('filter'), ['FORWARD', 'INPUT', 'KUBE-A', 'OUTPUT']);
    assert.equal(fake.answer('save', ['--counters'], '').code, 2);
  });
});

describe('rule commands: ensureRule, deleteRule, deleteChain (the real seam over the fake, and the fake itself)', () => {
  const jump = {
    table: 'nat',
    chain: 'PREROUTING',
    args: ['-m', 'comment', '--comment', 'handle ClusterIPs; NOTE: first', '-j', 'KUBE-A'],
  } as const;
  const setup = '*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j RETURN\nCOMMIT\n';

  for (const [name, make] of [
    ['iptablesFor over FakeIptables.answer', (fake: FakeIptables) => iptablesFor(execOn(fake), 'nft')],
    ['FakeIptables', (fake: FakeIptables) => fake],
  ] as const) {
    it(`${name}: inserts a missing rule once, first or last, and deletes it`, async () => {
      const fake = new FakeIptables('nft');
      const ipt = make(fake);
      await ipt.restore('nat', setup, { noflush: true });
      await ipt.ensureRule({ ...jump, args: ['-j', 'RETURN'] }, 'last');
      assert.equal(await ipt.ensureRule(jump, 'first'), false);
      assert.equal(await ipt.ensureRule(jump, 'first'), true);
      assert.deepEqual(fake.chain('nat', 'PREROUTING'), [
        '-m comment --comment "handle ClusterIPs; NOTE: first" -j KUBE-A',
        '-j RETURN',
      ]);
      assert.equal(await ipt.deleteRule(jump), true);
      assert.equal(await ipt.deleteRule(jump), false);
      assert.equal(await ipt.deleteRule({ ...jump, chain: 'KUBE-NOPE' }), false);
      assert.deepEqual(fake.chain('nat', 'PREROUTING'), ['-j RETURN']);
    });

    it(`${name}: deletes a chain with its rules, false when it is not there, and refuses one still referenced`, async () => {
      const fake = new FakeIptables('nft');
      const ipt = make(fake);
      await ipt.restore('nat', setup, { noflush: true });
      await ipt.ensureRule(jump, 'first');
      await assert.rejects(ipt.deleteChain('nat', 'KUBE-A'));
      await ipt.deleteRule(jump);
      assert.equal(await ipt.deleteChain('nat', 'KUBE-A'), true);
      assert.equal(fake.chain('nat', 'KUBE-A'), undefined);
      assert.equal(await ipt.deleteChain('nat', 'KUBE-A'), false);
    });
  }

  it('fails loudly on an error that is not "not there"', async () => {
    const exec: Exec = async () => ({
      code: 4,
      stdout: '',
      stderr: 'iptables: Permission denied (you must be root)\n',
    });
    const ipt = iptablesFor(exec, 'legacy');
    await assert.rejects(ipt.deleteRule(jump), { code: 'KPROXY_KERNEL' });
    await assert.rejects(ipt.deleteChain('nat', 'KUBE-A'), { code: 'KPROXY_KERNEL' });
    await assert.rejects(ipt.ensureRule(jump, 'last'), /iptables-legacy -w 5 -t nat -A PREROUTING/);
  });
});
