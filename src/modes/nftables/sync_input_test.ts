/**
 * The scripts of full and partial syncs as pure functions of plans: what a partial sync touches (only
 * what changed, in an order nft accepts), what a full sync removes (stale objects of an earlier run), and
 * that every script goes through the strict fake and leaves the table a fresh full sync would.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNft } from '../../kernel/nft.ts';
import { FakeNft } from '../../kernel/testing/nft_fake.ts';
import type { ServicePortState } from '../../model/types.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { type NftablesPlan, planNftables } from './plan.ts';
import { ruleText } from './rule_text.ts';
import {
  cleanupScript,
  fullSyncScript,
  partialSyncScript,
  tableObjectsOfListing,
  tableObjectsOfPlan,
} from './sync_input.ts';
import { tableDump } from './testing/table_dump.ts';

const options = planOptions();

function svc(
  i: number,
  endpoints: readonly string[],
  extra: Partial<ServicePortState> = {},
): ServicePortState {
  return servicePort({
    serviceName: `svc${i}`,
    clusterIPs: [`172.30.0.${10 + i}`],
    endpoints,
    ...extra,
  });
}

const two = (i: number) => [`10.180.${i}.1:80`, `10.180.${i}.2:80`];
const many = Array.from({ length: 5 }, (_, i) => svc(i, two(i)));

function applied(fake: FakeNft, script: string): void {
  const r = fake.answer(['-f', '-'], script);
  assert.equal(r.code, 0, `${r.stderr}\n${script}`);
}

/** The table after a fresh full sync of the plan, for comparison. */
async function fresh(plan: NftablesPlan) {
  const fake = new FakeNft();
  applied(fake, fullSyncScript(plan, undefined).text);
  return tableDump(fake);
}

/** Applies the partial script of `before` → `after` over a table holding `before`, then checks it. */
async function partial(before: NftablesPlan, after: NftablesPlan): Promise<string[]> {
  const fake = new FakeNft();
  applied(fake, fullSyncScript(before, undefined).text);
  const s = partialSyncScript(before, after);
  if (s.lines > 0) applied(fake, s.text);
  if (s.staleChains.length > 0) applied(fake, cleanupScript('ip', 'kube-proxy', s.staleChains).text);
  assert.deepEqual(await tableDump(fake), await fresh(after));
  return s.text.split('\n').filter((l) => l !== '');
}

describe('partialSyncScript', () => {
  it('one endpoint changed: only that endpoint map element, no chain', async () => {
    const before = planNftables(proxyState(many), options);
    const changed = svc(3, ['10.180.3.1:80', '10.180.3.9:80']);
    const state = proxyState(
      many.map((s) => (s.key === changed.key ? changed : s)),
      2,
    );
    const after = planNftables(state, options, { previous: before, change: change([changed.key]) });
    const lines = await partial(before, after);
    assert.deepEqual(lines, [
      'flush set ip kube-proxy canary',
      'delete element ip kube-proxy endpoint-ips-tcp-0 {',
      '\t196609',
      '}',
      'add element ip kube-proxy endpoint-ips-tcp-0 {',
      '\t196609 : 10.180.3.9',
      '}',
    ]);
    assert.equal(partialSyncScript(before, after).servicePortsWritten, 1);
  });

  it("an endpoint added: that service's picking rule and one element", async () => {
    const before = planNftables(proxyState(many), options);
    const changed = svc(1, [...two(1), '10.180.1.3:80']);
    const state = proxyState(
      many.map((s) => (s.key === changed.key ? changed : s)),
      2,
    );
    const after = planNftables(state, options, { previous: before, change: change([changed.key]) });
    const lines = await partial(before, after);
    // A ClusterIP-only service port's rule is in its group's shared chain: that chain is written again.
    const shared = after.chains.find((c) => c.name === 'clusterip-tcp-0')!;
    assert.deepEqual(lines, [
      'flush set ip kube-proxy canary',
      'flush chain ip kube-proxy clusterip-tcp-0',
      ...shared.rules.map((r) => `add rule ip kube-proxy clusterip-tcp-0 ${ruleText(r, 'ip')}`),
      'add element ip kube-proxy endpoint-ips-tcp-0 {',
      '\t65538 : 10.180.1.3',
      '}',
    ]);
    assert.equal(shared.rules.length, many.length);
    assert.match(ruleText(shared.rules[1]!, 'ip'), /mod 3 offset 65536 /);
  });

  it('a service port added and another removed: their chains and elements only; the removed chain flushed, to delete later', async () => {
    const before = planNftables(proxyState(many), options);
    const added = svc(9, two(9), { type: 'NodePort', nodePort: 30090 });
    const gone = many[2]!;
    const state = proxyState([...many.filter((s) => s !== gone), added], 2);
    const after = planNftables(state, options, { previous: before, change: change([added.key], [gone.key]) });
    const s = partialSyncScript(before, after);
    const goneChains = before.servicePorts.get(gone.key)!.chains.map((c) => c.name);
    assert.deepEqual(
      s.staleChains.map((c) => c.name),
      goneChains,
    );
    assert.ok(!s.text.includes('delete chain'), 'chains are deleted by the cleanup transaction');
    for (const sp of after.servicePorts.values()) {
      if (sp.key === added.key) continue;
      for (const c of sp.chains) assert.ok(!s.text.includes(c.name), `${c.name} untouched`);
    }
    await partial(before, after);
  });

  it('session affinity turned on: endpoint chains and affinity sets appear, the slot is freed', async () => {
    const before = planNftables(proxyState(many), options);
    const changed = svc(0, two(0), { sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 } });
    const state = proxyState(
      many.map((s) => (s.key === changed.key ? changed : s)),
      2,
    );
    const after = planNftables(state, options, { previous: before, change: change([changed.key]) });
    const lines = await partial(before, after);
    assert.equal(lines.filter((l) => l.startsWith('add set ip kube-proxy affinity-')).length, 2);
    assert.equal(lines.filter((l) => /^add chain ip kube-proxy endpoint-/.test(l)).length, 2);
  });

  it('the last service port of an endpoint map removed: the map goes too', async () => {
    const one = [svc(0, two(0), { protocol: 'UDP' })];
    const before = planNftables(proxyState([...many, ...one]), options);
    const after = planNftables(proxyState(many, 2), options, {
      previous: before,
      change: change([], [one[0]!.key]),
    });
    const lines = await partial(before, after);
    assert.ok(lines.includes('delete map ip kube-proxy endpoint-ips-udp-0'));
  });

  it('--nodeport-addresses turned on: the fixed chain rewritten and nodeport-ips declared', async () => {
    const before = planNftables(proxyState(many), options);
    const after = planNftables(proxyState(many), planOptions({ nodePortAddresses: ['192.168.0.2/32'] }));
    const lines = await partial(before, after);
    assert.ok(lines.includes('flush chain ip kube-proxy services'));
    assert.ok(lines.some((l) => l.startsWith('add set ip kube-proxy nodeport-ips')));
  });

  it('nothing changed: an empty script', () => {
    const before = planNftables(proxyState(many), options);
    const after = planNftables(proxyState(many, 2), options, { previous: before, change: change([]) });
    assert.deepEqual(partialSyncScript(before, after), {
      text: '',
      lines: 0,
      servicePortsWritten: 0,
      staleChains: [],
    });
  });
});

describe('fullSyncScript', () => {
  it('on a fresh host: exactly the rendered plan', () => {
    const plan = planNftables(proxyState(many), options);
    const s = fullSyncScript(plan, undefined);
    assert.match(s.text, /^add table ip kube-proxy/);
    assert.deepEqual(s.staleChains, []);
    assert.equal(s.servicePortsWritten, many.length);
  });

  it("over an earlier run's table: stale sets and maps deleted, stale chains flushed for later", async () => {
    const fake = new FakeNft();
    const earlier = planNftables(
      proxyState([
        ...many,
        svc(7, two(7), { sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 } }),
        svc(8, two(8), { protocol: 'UDP' }),
      ]),
      options,
    );
    applied(fake, fullSyncScript(earlier, undefined).text);
    const listed = await createNft(fake.exec).listTable('ip', 'kube-proxy');
    const plan = planNftables(proxyState(many.slice(0, 2)), options);
    const s = fullSyncScript(plan, tableObjectsOfListing(listed));
    applied(fake, s.text);
    assert.ok(s.text.includes('delete map ip kube-proxy endpoint-ips-udp-0'));
    assert.ok(/delete set ip kube-proxy affinity-/.test(s.text));
    // Service 7's service and endpoint chains, and the UDP ClusterIP chain service 8 had its rule in.
    assert.deepEqual(
      s.staleChains.map((c) => c.name).filter((n) => !n.includes('svc7')),
      ['clusterip-udp-0'],
    );
    assert.equal(s.staleChains.length, 1 + 2 + 1);
    applied(fake, cleanupScript('ip', 'kube-proxy', s.staleChains).text);
    assert.deepEqual(await tableDump(fake), await fresh(plan));
  });

  it('the same from the previous plan instead of a listing (what a running proxier knows)', async () => {
    const fake = new FakeNft();
    const earlier = planNftables(proxyState([...many, svc(8, two(8), { protocol: 'UDP' })]), options);
    applied(fake, fullSyncScript(earlier, undefined).text);
    const plan = planNftables(proxyState(many.slice(0, 2)), options);
    const s = fullSyncScript(plan, tableObjectsOfPlan(earlier));
    applied(fake, s.text);
    applied(fake, cleanupScript('ip', 'kube-proxy', s.staleChains).text);
    assert.deepEqual(await tableDump(fake), await fresh(plan));
  });

  it('re-creates a base chain that has another priority (an older or another kube-proxy)', async () => {
    const fake = new FakeNft();
    applied(
      fake,
      'add table ip kube-proxy\nadd chain ip kube-proxy nat-output { type nat hook output priority -90 ; }\n',
    );
    const listed = await createNft(fake.exec).listTable('ip', 'kube-proxy');
    const plan = planNftables(proxyState(many), options);
    const s = fullSyncScript(plan, tableObjectsOfListing(listed));
    assert.match(s.text, /^delete chain ip kube-proxy nat-output\n/);
    applied(fake, s.text);
    assert.deepEqual(await tableDump(fake), await fresh(plan));
  });
});
