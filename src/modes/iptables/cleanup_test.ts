/**
 * `kproxy cleanup` for the iptables mode, against the strict iptables fake: what a sync programmed goes,
 * other rules stay.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { applyRestore } from '../../kernel/iptables_state.ts';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { removeIptablesModeChains } from './cleanup.ts';
import { IptablesProxier } from './proxier.ts';

function setup(): { ipt: FakeIptables; proxier: IptablesProxier } {
  const ipt = new FakeIptables();
  const deps = {
    options: planOptions(),
    exec: () => Promise.reject(new Error('No exec in fake tests')),
    logger: pino({ level: 'silent' }),
    iptablesBackend: 'legacy',
  } as const;
  return { ipt, proxier: new IptablesProxier(deps, { iptables: ipt, conntrack: new FakeConntrack() }) };
}

const web = servicePort({ serviceName: 'web', clusterIPs: ['172.30.0.41'], endpoints: ['10.180.0.1:80'] });
const api = servicePort({ serviceName: 'api', clusterIPs: ['172.30.0.42'], endpoints: ['10.180.0.2:80'] });

describe('removeIptablesModeChains', () => {
  it('removes every chain and jump of the mode, leaving other rules alone', async () => {
    const { ipt, proxier } = setup();
    applyRestore(ipt.state, '*nat\n:OTHER - [0:0]\n-A PREROUTING -j OTHER\nCOMMIT\n', { noflush: true });
    await proxier.sync(proxyState([web, api]), change([]));
    const report = await removeIptablesModeChains(ipt);
    assert.ok(report.chainsDeleted > 10);
    for (const table of ['nat', 'filter', 'mangle'] as const) {
      const chains = [...(ipt.state.get(table)?.keys() ?? [])];
      assert.deepEqual(
        chains.filter((c) => c.startsWith('KUBE-')),
        [],
        table,
      );
      for (const c of chains) {
        for (const r of ipt.chain(table, c) ?? []) assert.doesNotMatch(r, /-j KUBE-/, `${table}/${c}: ${r}`);
      }
    }
    assert.deepEqual(ipt.chain('nat', 'PREROUTING'), ['-j OTHER']);
  });

  it('succeeds and writes nothing when nothing is there', async () => {
    const ipt = new FakeIptables();
    const report = await removeIptablesModeChains(ipt);
    assert.deepEqual(report, { chainsDeleted: 0, rulesDeleted: 0, chainsKept: [] });
    assert.equal(ipt.restores.length, 0);
  });

  it('keeps a chain another tool still jumps to', async () => {
    const { ipt, proxier } = setup();
    await proxier.sync(proxyState([web]), change([]));
    applyRestore(ipt.state, '*nat\n:OTHER - [0:0]\n-A OTHER -j KUBE-MARK-MASQ\nCOMMIT\n', { noflush: true });
    const report = await removeIptablesModeChains(ipt);
    assert.deepEqual(report.chainsKept, ['nat/KUBE-MARK-MASQ']);
    assert.equal(ipt.chain('nat', 'KUBE-SERVICES'), undefined);
  });
});
