/**
 * `kproxy cleanup --proxy-mode ipvs` against a strict fake host (real wrappers and command lines).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IptablesTable } from '../../kernel/iptables_restore.ts';
import type { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import { ipvsMode } from './index.ts';
import { createIpvsProxier } from './proxier.ts';
import { changeOf, endpoints, proxierDeps, service, stateOf } from './testing/fixtures.ts';

const web = service('web');

/** A chain's rules as iptables-save prints them (`-A CHAIN ...`), or undefined when it does not exist. */
function rules(ipt: FakeIptables, table: IptablesTable, chain: string): string[] | undefined {
  return ipt.chain(table, chain)?.map((rule) => `-A ${chain} ${rule}`);
}

/** A fake host on which the ipvs mode synced once. */
async function syncedHost() {
  const host = createFakeIpvsHost();
  host.netlink.addInterface('eth0', ['198.18.0.100']);
  const state = stateOf([[web, endpoints(web, ['198.19.1.1'])]]);
  const proxier = createIpvsProxier(proxierDeps(host.exec));
  await proxier.sync(state, changeOf(state));
  await proxier.stop();
  return host;
}

describe('ipvs cleanup', () => {
  it('cleanup leaves no virtual server, interface, chain, jump or set, and succeeds on a clean host', async () => {
    const host = await syncedHost();
    const deps = proxierDeps(host.exec);
    await ipvsMode.cleanup(deps);
    assert.deepEqual(host.ipvs.table(), []);
    assert.equal(host.netlink.links.has('kube-ipvs0'), false);
    assert.deepEqual(host.iptables.chains('nat'), ['INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING']);
    assert.deepEqual(host.iptables.chains('filter'), ['FORWARD', 'INPUT', 'OUTPUT']);
    assert.deepEqual(rules(host.iptables, 'nat', 'PREROUTING'), []);
    assert.deepEqual(host.ipset.names(), []);
    await ipvsMode.cleanup(deps);
  });

  it("cleanup keeps a set that other rules still use (another backend's), and removes it once they are gone", async () => {
    const host = await syncedHost();
    const foreign =
      '*filter\n:OTHER - [0:0]\n-A OTHER -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n';
    assert.equal(host.ip6tables.answer('restore', ['--noflush'], foreign).code, 0);
    await ipvsMode.cleanup(proxierDeps(host.exec));
    assert.deepEqual(host.ipset.names(), ['KUBE-CLUSTER-IP']);
    host.ip6tables.answer('restore', ['--noflush'], '*filter\n:OTHER - [0:0]\n-X OTHER\nCOMMIT\n');
    await ipvsMode.cleanup(proxierDeps(host.exec));
    assert.deepEqual(host.ipset.names(), []);
  });
});
