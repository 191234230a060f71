/**
 * The iptables mode on a real kernel, in a lab (src/lab): the IptablesProxier programs the node namespace
 * through createExec({ netns }), and real connections from a client namespace and from the node itself
 * go through the rules to the pods' identity servers. Runs for the legacy and the nft backend, one after
 * the other on the same lab (each ends with a cleanup that must leave nothing behind).
 *
 * Addresses: lab pods 198.18.101-103.2 (cluster CIDR 198.18.96.0/19), VIPs 198.19.0.0/16.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createExec, type Exec } from '../../kernel/exec.ts';
import { iptablesFor, type ResolvedIptablesBackend } from '../../kernel/iptables.ts';
import { parseIptablesSave, type TableState } from '../../kernel/iptables_state.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { createLab, type Lab } from '../../lab/lab.ts';
import { countNames, runProbe } from '../../lab/run_probe.ts';
import type { ServicePortState } from '../../model/types.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import type { ProxierDeps } from '../mode.ts';
import { iptablesMode } from './index.ts';
import { IPTABLES_JUMPS } from './jumps.ts';
import { IptablesProxier } from './proxier.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'conntrack'] });

const CLUSTER_CIDR = '198.18.96.0/19';

async function saved(
  exec: Exec,
  backend: ResolvedIptablesBackend,
  table: 'nat' | 'filter',
): Promise<TableState> {
  const t = parseIptablesSave(await iptablesFor(exec, backend).save(table)).get(table);
  assert.ok(t, `${table} exists`);
  return t;
}

for (const backend of ['legacy', 'nft'] as const) {
  describe(`iptables mode on a real kernel (${backend})`, { skip }, () => {
    let lab: Lab;
    let exec: Exec;
    let proxier: IptablesProxier;
    let deps: ProxierDeps;
    let web: ServicePortState;
    let sticky: ServicePortState;
    let empty: ServicePortState;
    let dns: ServicePortState;
    let version = 1;
    const state = (...ports: ServicePortState[]) => proxyState(ports, version++);

    before(async () => {
      lab = await createLab({ tag: backend === 'legacy' ? 'iptl' : 'iptn', clients: 1, pods: 3 });
      exec = createExec({ netns: lab.node.ns });
      // The node's own packets to a VIP need some route before the nat OUTPUT DNAT re-routes them (the
      // lab routes the VIP range on the node; add one if it does not).
      const routes = await exec('ip', ['route', 'show', '198.19.0.0/16']);
      if (routes.stdout.trim() === '') {
        const r = await exec('ip', ['route', 'add', '198.19.0.0/16', 'dev', 'kp0']);
        assert.equal(r.code, 0, r.stderr);
      }
      const pods = lab.pods.map((p) => `${p.ip}:9000`);
      web = servicePort({
        serviceName: 'web',
        portName: 'banner',
        type: 'NodePort',
        port: 80,
        nodePort: 30080,
        clusterIPs: ['198.19.0.10'],
        endpoints: pods,
      });
      sticky = servicePort({
        serviceName: 'sticky',
        portName: 'banner',
        port: 80,
        clusterIPs: ['198.19.0.11'],
        sessionAffinity: { type: 'ClientIP', timeoutSeconds: 600 },
        endpoints: pods,
      });
      empty = servicePort({
        serviceName: 'empty',
        portName: 'banner',
        port: 80,
        clusterIPs: ['198.19.0.12'],
      });
      dns = servicePort({
        serviceName: 'dns',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: ['198.19.0.53'],
        endpoints: pods,
      });
      deps = {
        options: planOptions({ nodeIPs: [...lab.node.addresses], clusterCIDRs: [CLUSTER_CIDR] }),
        exec,
        logger: pino({ level: 'silent' }),
        iptablesBackend: backend,
      };
      proxier = new IptablesProxier(deps);
    });

    after(async () => {
      await lab?.destroy();
    });

    it('checks the host and syncs fully into the node namespace', async () => {
      await iptablesMode.checkHost(deps);
      const report = await proxier.sync(state(web, sticky, empty, dns), change([]));
      assert.equal(report.kind, 'full');
      const nat = await saved(exec, backend, 'nat');
      assert.ok(nat.has('KUBE-SERVICES'));
      assert.equal(nat.get('PREROUTING')?.rules.filter((r) => r.includes('KUBE-SERVICES')).length, 1);
    });

    it('spreads connections from a client over every backend', async () => {
      const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', '198.19.0.10', '80', '--count', '60']);
      assert.deepEqual(r.failures, []);
      const c = countNames(r.names);
      assert.deepEqual(Object.keys(c).sort(), ['pod0', 'pod1', 'pod2']);
      for (const n of Object.values(c)) assert.ok(n >= 6, `plausibly uniform: ${JSON.stringify(c)}`);
    });

    it('serves the node itself too', async () => {
      const r = await runProbe(lab, lab.node.ns, ['banner', '198.19.0.10', '80', '--count', '30']);
      assert.deepEqual(r.failures, []);
      assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
    });

    it('serves the NodePort from another namespace', async () => {
      const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', lab.node.ip, '30080', '--count', '30']);
      assert.deepEqual(r.failures, []);
      assert.ok(Object.keys(countNames(r.names)).length >= 2, JSON.stringify(countNames(r.names)));
    });

    it('keeps a client on one backend with ClientIP affinity', async () => {
      const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', '198.19.0.11', '80', '--count', '20']);
      assert.deepEqual(r.failures, []);
      assert.equal(new Set(r.names).size, 1, JSON.stringify(countNames(r.names)));
    });

    it('refuses at once a service without endpoints', async () => {
      const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', '198.19.0.12', '80', '--count', '3']);
      assert.equal(r.names.length, 0);
      for (const f of r.failures) assert.match(f, /ECONNREFUSED/);
      for (const ms of r.durationsMs) assert.ok(ms < 1000, `refused in ${ms} ms`);
    });

    it('answers UDP through the cluster IP', async () => {
      const r = await runProbe(lab, lab.clients[0]!.ns, [
        'udp',
        '198.19.0.53',
        '53',
        '--count',
        '9',
        '--fresh',
      ]);
      assert.deepEqual(r.failures, []);
      assert.ok(new Set(r.names).size >= 2, JSON.stringify(countNames(r.names)));
    });

    it('changes only the changed service on a partial sync, and deletes its stale UDP conntrack entries', async () => {
      // Each fresh flow picks one of 3 endpoints at random: with 40, none reaching pod2 has a chance of
      // (2/3)^40 ≈ 1e-7 (with 12 it was 0.8%, and it happened).
      const udp = await runProbe(lab, lab.clients[0]!.ns, [
        'udp',
        '198.19.0.53',
        '53',
        '--count',
        '40',
        '--fresh',
      ]);
      assert.ok(udp.names.includes('pod2'), 'some flow went to pod2');
      const natBefore = await saved(exec, backend, 'nat');
      const filterBefore = await saved(exec, backend, 'filter');
      const dns2 = servicePort({
        serviceName: 'dns',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: ['198.19.0.53'],
        endpoints: [`${lab.pods[0]!.ip}:9000`, `${lab.pods[1]!.ip}:9000`],
      });
      const report = await proxier.sync(state(web, sticky, empty, dns2), change([dns2.key]));
      assert.equal(report.kind, 'partial');
      const natAfter = await saved(exec, backend, 'nat');
      const filterAfter = await saved(exec, backend, 'filter');
      assert.deepEqual(filterAfter, filterBefore, 'filter untouched');
      const changed = [...new Set([...natBefore.keys(), ...natAfter.keys()])].filter(
        (c) => JSON.stringify(natBefore.get(c)?.rules) !== JSON.stringify(natAfter.get(c)?.rules),
      );
      const svc =
        [...natAfter.keys()].find((c) => natAfter.get(c)!.rules.some((r) => r.includes('ns1/dns:dns ->'))) ??
        '';
      assert.ok(svc?.startsWith('KUBE-SVC-'), 'the service chain exists');
      assert.equal(changed.length, 2, `changed chains: ${changed.join(' ')}`);
      assert.ok(changed.includes(svc));
      const gone = changed.find((c) => c !== svc)!;
      assert.ok(gone.startsWith('KUBE-SEP-') && !natAfter.has(gone), `${gone} deleted`);
      const ct = await exec('conntrack', ['-L', '-p', 'udp', '--orig-dst', '198.19.0.53']);
      assert.doesNotMatch(ct.stdout, new RegExp(`src=${lab.pods[2]!.ip.replaceAll('.', '\\.')} `), ct.stdout);
      const after = await runProbe(lab, lab.clients[0]!.ns, [
        'udp',
        '198.19.0.53',
        '53',
        '--count',
        '8',
        '--fresh',
      ]);
      assert.deepEqual(after.failures, []);
      assert.ok(!after.names.includes('pod2'), JSON.stringify(countNames(after.names)));
    });

    it('restores its rules at the next sync after someone flushed iptables', async () => {
      for (const table of ['nat', 'filter', 'mangle']) {
        await iptablesFor(exec, backend).restore(table as 'nat', `*${table}\nCOMMIT\n`, { noflush: false });
      }
      const broken = await runProbe(lab, lab.clients[0]!.ns, ['banner', '198.19.0.10', '80', '--count', '1']);
      assert.equal(broken.names.length, 0, 'the flush took the service away');
      const report = await proxier.sync(state(web, sticky, empty, dns), change([]));
      assert.equal(report.kind, 'full');
      const r = await runProbe(lab, lab.clients[0]!.ns, ['banner', '198.19.0.10', '80', '--count', '5']);
      assert.deepEqual(r.failures, []);
    });

    it('finds its jumps in iptables-save output and never duplicates them on a full resync', async () => {
      await proxier.sync(state(web, sticky, empty, dns), change([]), { full: true });
      for (const table of ['nat', 'filter'] as const) {
        const t = await saved(exec, backend, table);
        for (const j of IPTABLES_JUMPS.filter((x) => x.table === table)) {
          const n = t.get(j.from)!.rules.filter((r) => r.endsWith(`-j ${j.to}`)).length;
          assert.equal(n, 1, `${table}/${j.from} -> ${j.to}`);
        }
      }
    });

    it('cleans up every chain and jump, and a second cleanup finds nothing', async () => {
      await iptablesMode.cleanup({ ...deps, iptablesBackend: backend });
      for (const table of ['nat', 'filter'] as const) {
        const t = await saved(exec, backend, table);
        for (const [name, c] of t) {
          assert.ok(!name.startsWith('KUBE-'), `${table}/${name} left`);
          for (const rule of c.rules) assert.doesNotMatch(rule, /KUBE-/, `${table}/${name}: ${rule}`);
        }
      }
      const mangle = await iptablesFor(exec, backend).save('mangle');
      assert.doesNotMatch(mangle, /KUBE-/);
      await iptablesMode.cleanup({ ...deps, iptablesBackend: backend });
    });
  });
}
