/**
 * The nftables Proxier against the strict fake: what full and partial syncs send (one transaction each),
 * that partial syncs leave the table a fresh full sync would, failure and canary handling, a restart over
 * an earlier run's table, stale chains deleted a second later, hostile names, UDP conntrack cleanup, and
 * `kproxy cleanup` leaving other tables alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createNft, NftTransactionError } from '../../kernel/nft.ts';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { FakeNft } from '../../kernel/testing/nft_fake.ts';
import { ProxyMetrics } from '../../metrics/proxy_metrics.ts';
import type { ProxyState, ServicePortState } from '../../model/types.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import type { ProxierDeps } from '../mode.ts';
import { cleanupNftablesMode } from './cleanup.ts';
import { nftablesMode } from './index.ts';
import { NftablesProxier, STALE_CHAIN_DELAY_MS } from './proxier.ts';
import { tableDump } from './testing/table_dump.ts';

/** A log line the proxier wrote: its level and fields. */
type LogLine = Record<string, unknown> & { level: number; msg: string };

function deps(fake: FakeNft, lines: LogLine[] = [], metrics?: ProxyMetrics): ProxierDeps {
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return { options: planOptions(), exec: fake.exec, logger, iptablesBackend: 'auto', metrics };
}

interface Setup {
  readonly fake: FakeNft;
  readonly ct: FakeConntrack;
  readonly proxier: NftablesProxier;
  readonly log: LogLine[];
  readonly metrics: ProxyMetrics;
  /** Moves the proxier's clock on. */
  advance(ms: number): void;
}

function setup(fake = new FakeNft()): Setup {
  const ct = new FakeConntrack();
  const log: LogLine[] = [];
  const metrics = new ProxyMetrics({ mode: 'nftables' });
  let now = 1_000_000;
  const proxier = new NftablesProxier(deps(fake, log, metrics), { conntrack: ct, now: () => now });
  return {
    fake,
    ct,
    proxier,
    log,
    metrics,
    advance: (ms) => {
      now += ms;
    },
  };
}

/** The table a fresh proxier's first (full) sync leaves for the state. */
async function freshTable(state: ProxyState) {
  const s = setup();
  await s.proxier.sync(state, change([]));
  return tableDump(s.fake);
}

function svc(
  i: number,
  endpoints: readonly string[],
  extra: Partial<ServicePortState> = {},
): ServicePortState {
  return servicePort({ serviceName: `svc${i}`, clusterIPs: [`172.30.0.${10 + i}`], endpoints, ...extra });
}

const web = svc(1, ['10.180.0.1:80', '10.180.0.2:80']);
const api = svc(2, ['10.180.0.3:80'], { type: 'NodePort', nodePort: 30080 });
const dns = svc(3, ['10.180.0.5:53', '10.180.0.6:53'], {
  portName: 'dns',
  protocol: 'UDP',
  port: 53,
  type: 'NodePort',
  nodePort: 30053,
});

function withPort(ports: readonly ServicePortState[], port: ServicePortState): ServicePortState[] {
  return ports.map((p) => (p.key === port.key ? port : p));
}

describe('NftablesProxier', () => {
  it('syncs fully the first time: one transaction, exactly what `kproxy rules` prints', async () => {
    const { fake, proxier } = setup();
    const state = proxyState([web, api]);
    const report = await proxier.sync(state, change([web.key, api.key]));
    assert.equal(report.kind, 'full');
    assert.equal(report.servicePortsWritten, 2);
    // The first sync lists the table once (none here), then applies one script.
    assert.equal(fake.transactions.length, 1);
    assert.equal(fake.transactions[0]!.script, nftablesMode.renderRules(state, planOptions()));
    assert.equal(report.restoreBytes, fake.transactions[0]!.script.length);
    assert.deepEqual(fake.elements('ip', 'kube-proxy', 'canary'), []);
  });

  it('syncs one endpoint change partially: a few element lines, and the table a full sync would leave', async () => {
    const { fake, proxier } = setup();
    await proxier.sync(proxyState([web, api, dns]), change([]));
    const web2 = svc(1, ['10.180.0.1:80', '10.180.0.9:80']);
    const state = proxyState(withPort([web, api, dns], web2), 2);
    const report = await proxier.sync(state, change([web2.key]));
    assert.equal(report.kind, 'partial');
    assert.equal(report.servicePortsWritten, 1);
    assert.equal(
      fake.transactions.at(-1)!.script,
      [
        'flush set ip kube-proxy canary',
        'delete element ip kube-proxy endpoint-ips-tcp-0 {',
        '\t1',
        '}',
        'add element ip kube-proxy endpoint-ips-tcp-0 {',
        '\t1 : 10.180.0.9',
        '}',
        '',
      ].join('\n'),
    );
    assert.deepEqual(await tableDump(fake), await freshTable(state));
  });

  it('applies nothing when nothing changed (the canary is still checked)', async () => {
    const { fake, proxier } = setup();
    await proxier.sync(proxyState([web]), change([]));
    const report = await proxier.sync(proxyState([web], 2), change([]));
    assert.deepEqual(report, { kind: 'partial', servicePortsWritten: 0, restoreBytes: 0, restoreLines: 0 });
    assert.equal(fake.transactions.length, 1);
  });

  it('removes a service port: chains flushed, then deleted in their own transaction a second later', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web, api]), change([]));
    const state = proxyState([web], 2);
    await s.proxier.sync(state, change([], [api.key]));
    const stale = s.proxier.staleChains;
    assert.ok(stale.length > 0 && stale.every((c) => c.includes('/svc2/')), stale.join());
    for (const c of stale) assert.deepEqual(s.fake.rules('ip', 'kube-proxy', c), []);
    // Not yet a second: the next sync leaves them.
    s.advance(STALE_CHAIN_DELAY_MS - 1);
    await s.proxier.sync(state, change([]));
    assert.deepEqual(s.proxier.staleChains, stale);
    s.advance(1);
    await s.proxier.sync(state, change([]));
    assert.deepEqual(s.proxier.staleChains, []);
    assert.match(
      s.fake.transactions.at(-1)!.script,
      /^add chain ip kube-proxy \S+\ndelete chain ip kube-proxy /,
    );
    assert.deepEqual(await tableDump(s.fake), await freshTable(state));
  });

  it('keeps a stale chain that a later sync needs again', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web, api]), change([]));
    await s.proxier.sync(proxyState([web], 2), change([], [api.key]));
    await s.proxier.sync(proxyState([web, api], 3), change([api.key]));
    assert.deepEqual(s.proxier.staleChains, []);
    s.advance(STALE_CHAIN_DELAY_MS);
    await s.proxier.sync(proxyState([web, api], 4), change([]));
    assert.deepEqual(await tableDump(s.fake), await freshTable(proxyState([web, api])));
  });

  it('counts and retries a failed cleanup', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web, api]), change([]));
    await s.proxier.sync(proxyState([web], 2), change([], [api.key]));
    s.advance(STALE_CHAIN_DELAY_MS);
    s.fake.failNextTransaction('Could not process rule: Device or resource busy');
    await s.proxier.sync(proxyState([web], 3), change([]));
    assert.ok(s.proxier.staleChains.length > 0);
    assert.match(
      await s.metrics.metricsText(),
      /kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total 1/,
    );
    await s.proxier.sync(proxyState([web], 4), change([]));
    assert.deepEqual(s.proxier.staleChains, []);
  });

  it('retries a refused partial sync at once as a full one, and logs the line nft refused', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web]), change([]));
    // Someone else empties the endpoint map the next partial sync edits: nft refuses the deletion.
    assert.equal(s.fake.answer(['-f', '-'], 'flush map ip kube-proxy endpoint-ips-tcp-0\n').code, 0);
    const web2 = svc(1, ['10.180.0.1:80', '10.180.0.9:80']);
    const state = proxyState([web2], 2);
    const report = await s.proxier.sync(state, change([web2.key]));
    assert.equal(report.kind, 'full');
    const error = s.log.find(
      (l) => l.msg === 'nftables partial sync failed: the previous ruleset stays in place',
    );
    assert.ok(error);
    assert.equal(error['line'], 3);
    assert.equal(error['lineText'], '\t1');
    assert.match(await s.metrics.metricsText(), /kubeproxy_sync_proxy_rules_nftables_sync_failures_total 1/);
    assert.deepEqual(await tableDump(s.fake), await freshTable(state));
  });

  it('keeps the previous ruleset when nft refuses a full sync, fails the sync, and syncs fully next', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web]), change([]));
    const before = await tableDump(s.fake);
    s.fake.failNextTransaction('Could not process rule: No buffer space available');
    const error = await s.proxier
      .sync(proxyState([web, api], 2), change([api.key]), { full: true })
      .catch((e: unknown) => e);
    assert.ok(error instanceof NftTransactionError);
    assert.equal(error.reason, 'Could not process rule: No buffer space available');
    assert.deepEqual(await tableDump(s.fake), before);
    const logged = s.log.find((l) => l.msg.startsWith('nftables sync failed'));
    assert.equal(logged?.['line'], 1);
    assert.match(await s.metrics.metricsText(), /kubeproxy_sync_proxy_rules_nftables_sync_failures_total 1/);
    const report = await s.proxier.sync(proxyState([web, api], 3), change([]));
    assert.equal(report.kind, 'full');
    assert.deepEqual(await tableDump(s.fake), await freshTable(proxyState([web, api])));
  });

  it('syncs fully when the canary is gone (the table was deleted behind its back)', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web]), change([]));
    await createNft(s.fake.exec).deleteTable('ip', 'kube-proxy');
    const report = await s.proxier.sync(proxyState([web, api], 2), change([api.key]));
    assert.equal(report.kind, 'full');
    assert.ok(s.log.some((l) => String(l.msg).startsWith('The nftables canary set is gone')));
    // The partial transaction was its own canary check: refused at its first line, nothing counted.
    assert.match(s.fake.transactions.at(-2)!.script, /^flush set ip kube-proxy canary\n/);
    assert.match(await s.metrics.metricsText(), /kubeproxy_sync_proxy_rules_nftables_sync_failures_total 0/);
    assert.deepEqual(await tableDump(s.fake), await freshTable(proxyState([web, api])));
  });

  it('lists the canary when a partial sync has nothing to write', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web]), change([]));
    await createNft(s.fake.exec).deleteTable('ip', 'kube-proxy');
    const report = await s.proxier.sync(proxyState([web], 2), change([]));
    assert.equal(report.kind, 'full');
    assert.deepEqual(await tableDump(s.fake), await freshTable(proxyState([web])));
  });

  it('syncs fully when the daemon asks (the sync period)', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([web]), change([]));
    const report = await s.proxier.sync(proxyState([web], 2), change([]), { full: true });
    assert.equal(report.kind, 'full');
    assert.equal(s.fake.transactions.length, 2);
  });

  it('after a restart, lists the table once and removes what the earlier run left', async () => {
    const fake = new FakeNft();
    const earlier = setup(fake);
    const affine = svc(4, ['10.180.0.7:80'], { sessionAffinity: { type: 'ClientIP', timeoutSeconds: 60 } });
    await earlier.proxier.sync(proxyState([web, api, dns, affine]), change([]));
    const later = setup(fake);
    const state = proxyState([web]);
    await later.proxier.sync(state, change([]));
    assert.ok(
      later.log.some((l) => l.msg === 'Found an nftables table from an earlier run: syncing over it'),
    );
    assert.ok(later.proxier.staleChains.length > 0);
    later.advance(STALE_CHAIN_DELAY_MS);
    await later.proxier.sync(state, change([]));
    assert.deepEqual(await tableDump(fake), await freshTable(state));
  });

  it('writes hostile names only as the strict fake accepts them', async () => {
    const s = setup();
    const hostile = servicePort({
      namespace: 'ns1',
      serviceName: 'a" -j ACCEPT\n-A INPUT -j DROP #',
      portName: 'p 80; flush ruleset',
      endpoints: ['10.180.0.1:80'],
      // A node port, so that the service port has chains of its own (named after it).
      nodePort: 30080,
    });
    await s.proxier.sync(proxyState([hostile]), change([]));
    const chains = s.fake.chains('ip', 'kube-proxy') ?? [];
    assert.ok(
      chains.some((c) =>
        /^service-[A-Z2-7]{8}-ns1\/a__-j_ACCEPT_-A_INPUT_-j_DROP__\/tcp\/p_80__flush_ruleset$/.test(c),
      ),
      chains.join('\n'),
    );
    assert.deepEqual(s.fake.tables(), ['ip kube-proxy']);
  });

  it('deletes the UDP conntrack entries an endpoint change leaves stale, after the rules', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([dns]), change([]));
    const dns2 = svc(3, ['10.180.0.5:53'], {
      portName: 'dns',
      protocol: 'UDP',
      port: 53,
      type: 'NodePort',
      nodePort: 30053,
    });
    await s.proxier.sync(proxyState([dns2], 2), change([dns2.key]));
    assert.deepEqual(s.ct.calls, ['service-nat 172.30.0.13 10.180.0.6', 'node-port-nat 30053 10.180.0.6']);
  });

  it('logs a failed conntrack deletion and goes on', async () => {
    const s = setup();
    await s.proxier.sync(proxyState([dns]), change([]));
    s.ct.failWith = new Error('conntrack: boom');
    const report = await s.proxier.sync(proxyState([], 2), change([], [dns.key]));
    assert.equal(report.kind, 'partial');
    assert.ok(s.log.some((l) => l.msg === 'Failed to delete stale UDP conntrack entries'));
  });
});

describe('kproxy cleanup (nftables mode)', () => {
  it("deletes kproxy's tables and leaves every other table alone", async () => {
    const fake = new FakeNft();
    const s = setup(fake);
    await s.proxier.sync(proxyState([web]), change([]));
    assert.equal(
      fake.answer(
        ['-f', '-'],
        'add table ip6 kube-proxy\nadd table ip firewall\nadd chain ip firewall input { type filter hook input priority 0 ; }\nadd table ip6 other\n',
      ).code,
      0,
    );
    await cleanupNftablesMode(deps(fake));
    assert.deepEqual(fake.tables(), ['ip firewall', 'ip6 other']);
    assert.deepEqual(fake.chains('ip', 'firewall'), ['input']);
  });

  it('succeeds when there is nothing to delete, or no nft at all', async () => {
    await cleanupNftablesMode(deps(new FakeNft()));
    const noNft: ProxierDeps = {
      ...deps(new FakeNft()),
      exec: async () => {
        const { KernelError } = await import('../../kernel/exec.ts');
        throw new KernelError('nft', -1, 'spawn nft ENOENT');
      },
    };
    await cleanupNftablesMode(noNft);
  });
});
