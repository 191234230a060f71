/**
 * The iptables Proxier against the strict fake: what a full and a partial sync write, that a partial
 * sync leaves exactly the rules a full sync would, failure and canary handling, UDP conntrack cleanup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { Exec } from '../../kernel/exec.ts';
import { applyRestore } from '../../kernel/iptables_state.ts';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import type { ProxyState, ServicePortState } from '../../model/types.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import type { ProxierDeps } from '../mode.ts';
import { staleUdpConntrack, type UdpConntrackDeletion } from './conntrack.ts';
import { type IptablesPlan, planIptables } from './plan.ts';
import { IptablesProxier } from './proxier.ts';
import { udpDnsPort as dns } from './testing/udp_service_ports.ts';

const noExec: Exec = async () => {
  throw new Error('No exec in fake tests');
};

function deps(): ProxierDeps {
  return {
    options: planOptions(),
    exec: noExec,
    logger: pino({ level: 'silent' }),
    iptablesBackend: 'legacy',
  };
}

function setup(): { ipt: FakeIptables; ct: FakeConntrack; proxier: IptablesProxier } {
  const ipt = new FakeIptables();
  const ct = new FakeConntrack();
  return { ipt, ct, proxier: new IptablesProxier(deps(), { iptables: ipt, conntrack: ct }) };
}

/** Chains of a table as a comparable object (chain order in the kernel does not matter, rule order does). */
function snapshot(ipt: FakeIptables, table: 'nat' | 'filter' | 'mangle'): Record<string, readonly string[]> {
  const t = ipt.state.get(table);
  const out: Record<string, readonly string[]> = {};
  for (const name of [...(t?.keys() ?? [])].sort()) out[name] = t!.get(name)!.rules;
  return out;
}

/** Asserts that nat and filter hold what a fresh proxier's first (full) sync leaves for the state. */
async function assertAsAfterFreshSync(ipt: FakeIptables, state: ProxyState): Promise<void> {
  const fresh = setup();
  await fresh.proxier.sync(state, change([]));
  assert.deepEqual(
    { nat: snapshot(ipt, 'nat'), filter: snapshot(ipt, 'filter') },
    { nat: snapshot(fresh.ipt, 'nat'), filter: snapshot(fresh.ipt, 'filter') },
  );
}

function services(count: number, endpointsEach = 2): ServicePortState[] {
  return Array.from({ length: count }, (_, i) =>
    servicePort({
      serviceName: `svc${i}`,
      clusterIPs: [`172.30.${i >> 8}.${i & 255}`],
      endpoints: Array.from({ length: endpointsEach }, (_, j) => `10.180.${i >> 8}.${(i & 255) ^ j}:80`),
    }),
  );
}

const web = servicePort({ serviceName: 'web', clusterIPs: ['172.30.0.41'], endpoints: ['10.180.0.1:80'] });
const api = servicePort({ serviceName: 'api', clusterIPs: ['172.30.0.42'], endpoints: ['10.180.0.2:80'] });

describe('IptablesProxier', () => {
  it('syncs fully the first time: one restore per table, jumps in place, canary created', async () => {
    const { ipt, proxier } = setup();
    const report = await proxier.sync(proxyState([web, api]), change([web.key, api.key]));
    assert.equal(report.kind, 'full');
    assert.equal(report.servicePortsWritten, 2);
    assert.deepEqual(
      ipt.restores.map((r) => [r.table, r.noflush]),
      [
        ['filter', true],
        ['nat', true],
        ['mangle', true],
      ],
    );
    assert.deepEqual(ipt.chain('nat', 'PREROUTING'), [
      '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]);
    assert.equal(ipt.chain('filter', 'INPUT')?.length, 3);
    assert.deepEqual(ipt.chain('mangle', 'KUBE-PROXY-CANARY'), []);
  });

  it('writes only the changed service port on a partial sync, and ends where a full sync would', async () => {
    const { ipt, proxier } = setup();
    await proxier.sync(proxyState([web, api]), change([web.key, api.key]));
    ipt.restores.length = 0;
    const web2 = servicePort({
      serviceName: 'web',
      clusterIPs: ['172.30.0.41'],
      endpoints: ['10.180.0.1:80', '10.180.0.9:80'],
    });
    const state = proxyState([web2, api], 2);
    const report = await proxier.sync(state, change([web.key]));
    assert.equal(report.kind, 'partial');
    assert.equal(report.servicePortsWritten, 1);
    assert.deepEqual(
      ipt.restores.map((r) => r.table),
      ['nat'],
      'the filter table does not change',
    );
    const input = ipt.restores[0]!.input;
    assert.match(input, /ns1\/web:p80/);
    assert.doesNotMatch(input, /ns1\/api:p80/, 'the unchanged service is not rewritten');
    assert.doesNotMatch(input, /KUBE-SERVICES/, 'KUBE-SERVICES does not change for an endpoint change');
    await assertAsAfterFreshSync(ipt, state);
  });

  it('deletes the chains of a removed service and edits a big KUBE-SERVICES in place', async () => {
    const { ipt, proxier } = setup();
    const all = services(100);
    await proxier.sync(proxyState(all), change([]));
    ipt.restores.length = 0;
    const gone = all[42]!;
    const state = proxyState(
      all.filter((s) => s !== gone),
      2,
    );
    await proxier.sync(state, change([], [gone.key]));
    const input = ipt.restores[0]!.input;
    assert.match(input, /^-D KUBE-SERVICES .*ns1\/svc42:p80 cluster IP/m);
    assert.doesNotMatch(input, /^:KUBE-SERVICES/m, 'not rewritten');
    assert.match(input, /^-X KUBE-SVC-/m);
    assert.match(input, /^-X KUBE-SEP-/m);
    await assertAsAfterFreshSync(ipt, state);
  });

  it('inserts a new service into a big KUBE-SERVICES at its planned position', async () => {
    const { ipt, proxier } = setup();
    const all = services(100);
    const added = all[57]!;
    await proxier.sync(proxyState(all.filter((s) => s !== added)), change([]));
    ipt.restores.length = 0;
    const state = proxyState(all, 2);
    await proxier.sync(state, change([added.key]));
    assert.match(ipt.restores[0]!.input, /^-I KUBE-SERVICES \d+ .*ns1\/svc57:p80 cluster IP/m);
    await assertAsAfterFreshSync(ipt, state);
  });

  it('rewrites a small chain instead of editing it', async () => {
    const { ipt, proxier } = setup();
    await proxier.sync(proxyState([web, api]), change([]));
    ipt.restores.length = 0;
    const state = proxyState([web], 2);
    await proxier.sync(state, change([], [api.key]));
    assert.match(ipt.restores[0]!.input, /^:KUBE-SERVICES - \[0:0\]$/m);
    await assertAsAfterFreshSync(ipt, state);
  });

  it('moves a service between REJECT (filter) and DNAT (nat) across partial syncs', async () => {
    const { ipt, proxier } = setup();
    const empty = servicePort({ serviceName: 'web', clusterIPs: ['172.30.0.41'], endpoints: [] });
    await proxier.sync(proxyState([empty, api]), change([]));
    assert.equal(ipt.chain('filter', 'KUBE-SERVICES')?.length, 1);
    const state = proxyState([web, api], 2);
    const report = await proxier.sync(state, change([web.key]));
    assert.equal(report.kind, 'partial');
    assert.deepEqual(ipt.chain('filter', 'KUBE-SERVICES'), []);
    await assertAsAfterFreshSync(ipt, state);
  });

  it('keeps a one-endpoint change at 2000 services to a few restore lines', async () => {
    const { ipt, proxier } = setup();
    const all = services(2000);
    await proxier.sync(proxyState(all), change([]));
    const changed = servicePort({
      serviceName: 'svc1000',
      clusterIPs: ['172.30.3.232'],
      endpoints: ['10.180.3.232:80'],
    });
    const next = all.map((s) => (s.key === changed.key ? changed : s));
    ipt.restores.length = 0;
    const report = await proxier.sync(proxyState(next, 2), change([changed.key]));
    assert.equal(report.kind, 'partial');
    assert.ok(report.restoreLines < 12, `${report.restoreLines} lines`);
    assert.equal(ipt.restores.length, 1);
  });

  it('splits a big nft full sync into batches that end where one transaction would', async () => {
    const ipt = new FakeIptables('nft');
    const proxier = new IptablesProxier(deps(), { iptables: ipt, conntrack: new FakeConntrack() });
    const state = proxyState(services(1500, 3));
    await proxier.sync(state, change([]));
    const nat = ipt.restores.filter((r) => r.table === 'nat');
    assert.ok(nat.length > 2, `${nat.length} nat transactions`);
    assert.match(nat.at(-1)!.input, /^:KUBE-SERVICES /m, 'KUBE-SERVICES comes last');
    await assertAsAfterFreshSync(ipt, state);
    ipt.restores.length = 0;
    await proxier.sync(state, change([]), { full: true });
    await assertAsAfterFreshSync(ipt, state);
  });

  it('does a full sync when the daemon asks for one, without duplicating jumps', async () => {
    const { ipt, proxier } = setup();
    await proxier.sync(proxyState([web]), change([]));
    const report = await proxier.sync(proxyState([web], 2), change([]), { full: true });
    assert.equal(report.kind, 'full');
    assert.equal(ipt.chain('nat', 'PREROUTING')?.length, 1);
    assert.equal(ipt.chain('filter', 'FORWARD')?.length, 4);
  });

  it('retries a failed partial restore at once as a full sync', async () => {
    const { ipt, proxier } = setup();
    await proxier.sync(proxyState([web]), change([]));
    ipt.failNextRestore();
    const state = proxyState([web, api], 2);
    const report = await proxier.sync(state, change([api.key]));
    assert.equal(report.kind, 'full');
    await assertAsAfterFreshSync(ipt, state);
  });

  it('syncs fully after a sync that failed', async () => {
    const { ipt, proxier } = setup();
    ipt.failNextRestore();
    await assert.rejects(proxier.sync(proxyState([web]), change([])), /injected failure/);
    const report = await proxier.sync(proxyState([web], 2), change([]));
    assert.equal(report.kind, 'full');
    await proxier.sync(proxyState([web, api], 3), change([api.key]));
    ipt.failNextRestore();
    ipt.failNextRestore();
    await assert.rejects(proxier.sync(proxyState([web], 4), change([], [api.key])));
    assert.equal((await proxier.sync(proxyState([web], 5), change([]))).kind, 'full');
  });

  it('notices that the canary is gone and syncs fully', async () => {
    const { ipt, proxier } = setup();
    await proxier.sync(proxyState([web]), change([]));
    ipt.flushBehindOurBack('mangle');
    ipt.flushBehindOurBack('nat');
    const state = proxyState([web], 2);
    const report = await proxier.sync(state, change([]));
    assert.equal(report.kind, 'full');
    assert.deepEqual(ipt.chain('nat', 'PREROUTING')?.length, 1);
    await assertAsAfterFreshSync(ipt, state);
  });

  it('recovers when only nat was flushed (canary intact) as soon as a change needs writing', async () => {
    const { ipt, proxier } = setup();
    await proxier.sync(proxyState([web]), change([]));
    ipt.flushBehindOurBack('nat');
    const state = proxyState([web, api], 2);
    const report = await proxier.sync(state, change([api.key]));
    assert.equal(report.kind, 'full');
    await assertAsAfterFreshSync(ipt, state);
  });

  it('deletes stale per-service chains left by an earlier run', async () => {
    const { ipt, proxier } = setup();
    applyRestore(
      ipt.state,
      '*nat\n:KUBE-SEP-STALESTALESTALE1 - [0:0]\n:KUBE-SVC-STALESTALESTALE1 - [0:0]\n-A KUBE-SVC-STALESTALESTALE1 -j KUBE-SEP-STALESTALESTALE1\nCOMMIT\n',
      {
        noflush: true,
      },
    );
    await proxier.sync(proxyState([web]), change([]));
    assert.equal(ipt.chain('nat', 'KUBE-SVC-STALESTALESTALE1'), undefined);
    assert.equal(ipt.chain('nat', 'KUBE-SEP-STALESTALESTALE1'), undefined);
  });
});

describe('UDP conntrack cleanup', () => {
  // Which deletions a sync calls for is staleUdpConntrack's, a pure function of the two plans (its cases
  // in conntrack_test.ts); the Proxier's part is to run the ones it is given, each through its call.
  const plan = (ports: readonly ServicePortState[]): IptablesPlan =>
    planIptables(proxyState(ports), planOptions());
  const conntrackCall = (deletion: UdpConntrackDeletion): string => {
    switch (deletion.kind) {
      case 'serviceIP':
        return `service-ip ${deletion.ip}`;
      case 'nodePort':
        return `node-port ${deletion.port}`;
      case 'serviceIPEndpoint':
        return `service-nat ${deletion.ip} ${deletion.endpointIP}`;
      case 'nodePortEndpoint':
        return `node-port-nat ${deletion.port} ${deletion.endpointIP}`;
      default: {
        const never: never = deletion;
        throw new TypeError(`Unknown conntrack deletion: ${JSON.stringify(never)}`);
      }
    }
  };
  const syncs: [what: string, before: ServicePortState[], after: ServicePortState[]][] = [
    ['an endpoint removed', [dns(['10.180.0.5:53', '10.180.0.6:53'])], [dns(['10.180.0.5:53'])]],
    ['a first endpoint', [dns([])], [dns(['10.180.0.5:53'])]],
    ['a UDP and a TCP service removed', [dns(['10.180.0.5:53']), web], []],
  ];
  for (const [what, before, after] of syncs) {
    it(`runs the deletions staleUdpConntrack gives for ${what}, each through its conntrack call, in order`, async () => {
      const { ct, proxier } = setup();
      await proxier.sync(proxyState(before), change([]));
      const kept = new Set(after.map((sp) => sp.key));
      const removed = before.map((sp) => sp.key).filter((key) => !kept.has(key));
      await proxier.sync(proxyState(after, 2), change([...kept], removed));
      const given = staleUdpConntrack(plan(before), plan(after));
      assert.notDeepEqual(given, []);
      assert.deepEqual(ct.calls, given.map(conntrackCall));
    });
  }

  it('logs a conntrack failure without failing the sync', async () => {
    const { ct, proxier } = setup();
    await proxier.sync(proxyState([dns(['10.180.0.5:53', '10.180.0.6:53'])]), change([]));
    ct.failWith = new Error('conntrack broke');
    const report = await proxier.sync(proxyState([dns(['10.180.0.5:53'])], 2), change([dns([]).key]));
    assert.equal(report.kind, 'partial');
    assert.equal(ct.calls.length, 2);
  });
});
