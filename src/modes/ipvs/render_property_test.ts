/**
 * Properties of the ipvs mode's kernel input (issue 17), for any valid state (generated Services and
 * EndpointSlices with hostile but valid names, many ports and endpoints, every policy, a scheduler
 * annotation of any text): a full sync through the real wrappers is accepted by the strict fake host
 * (ipvsadm -R, ipset restore, iptables-restore), and `kproxy rules` prints only lines of those tools'
 * input or comments, so that no annotation text escapes its warning comment.
 * Generators: src/model/testing/arbitraries.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import {
  ARB_NODE_IP,
  arbPlanOptions,
  arbProxyState,
  propertyParameters,
} from '../../model/testing/arbitraries.ts';
import { planOptions } from '../../model/testing/fixtures.ts';
import { FakeClock } from '../../runner/clock.ts';
import { buildServicePorts } from '../../tracker/service_port_builder.ts';
import { planIpvs } from './plan.ts';
import { createIpvsProxier } from './proxier.ts';
import { renderIpvsPlan } from './render.ts';
import { changeOf, proxierDeps, service, stateOf } from './testing/fixtures.ts';

const arbOptions = arbPlanOptions({ schedulers: ['rr', 'sh', 'mh'] });

/** The lines `kproxy rules --proxy-mode ipvs` prints: tools' input, or a comment of printable text. */
const LINE = new RegExp(
  [
    '^# [\\x20-\\x7e]*$', // headings, warnings and addresses
    '^-[Aa] (-[tu]|--sctp-service) \\S+( -[a-zA-Z] \\S+| -[a-zA-Z])*$', // ipvsadm -R
    '^(create|add) KUBE-[A-Z0-9-]+ .*$', // ipset restore
    '^(\\*(filter|nat|mangle)|:[A-Z][A-Z0-9-]* - \\[0:0\\]|-A [A-Z][A-Z0-9-]* .+|COMMIT)$', // iptables-restore
  ].join('|'),
);

describe('ipvs rendering properties', () => {
  it('a full sync is accepted by the strict fake host, and every printed line is a tool line', async () => {
    await fc.assert(
      fc.asyncProperty(arbProxyState(buildServicePorts), arbOptions, async (state, options) => {
        for (const line of renderIpvsPlan(planIpvs(state, options)).split('\n').slice(0, -1)) {
          assert.match(line, LINE, `a line of no tool: ${JSON.stringify(line)}`);
          if (line.includes('--comment')) assert.equal((line.match(/"/g)?.length ?? 0) % 2, 0, line);
        }
        const host = createFakeIpvsHost();
        host.netlink.addInterface('eth0', [ARB_NODE_IP]);
        const proxier = createIpvsProxier(proxierDeps(host.exec, options), {
          clock: new FakeClock(0),
          gracefulCheckIntervalMs: 60_000,
        });
        const report = await proxier.sync(state, changeOf(state), { full: true });
        assert.equal(report.kind, 'full');
        const planned = planIpvs(state, options).virtualServers.length;
        assert.equal(host.ipvs.table().length, planned, 'every planned virtual server is in the fake');
      }),
      propertyParameters(40),
    );
  });
});

describe('found by the properties', () => {
  // ipvs/plan.ts, KUBE-LOAD-BALANCER-SOURCE-CIDR: loadBalancerSourceRanges 0.0.0.0/0 (a valid and common
  // "allow everyone") became the hash:ip,port,net entry `IP,6:PORT,0.0.0.0/0`, which ipset refuses
  // (a net of prefix 0 cannot be stored): the ipset restore fails, and with it every sync of every service.
  it('a load balancer open to 0.0.0.0/0 syncs, its range stored as two halves', async () => {
    const state = stateOf([
      [
        service('web', {
          type: 'LoadBalancer',
          ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
          loadBalancerIPs: ['198.19.98.1'],
          loadBalancerSourceRanges: ['0.0.0.0/0'],
        }),
      ],
    ]);
    const host = createFakeIpvsHost();
    host.netlink.addInterface('eth0', [ARB_NODE_IP]);
    const proxier = createIpvsProxier(proxierDeps(host.exec), { clock: new FakeClock(0) });
    await proxier.sync(state, changeOf(state), { full: true });
    assert.deepEqual(
      planIpvs(state, planOptions())
        .families.flatMap((f) => f.ipsets)
        .find((i) => i.name === 'KUBE-LOAD-BALANCER-SOURCE-CIDR')?.entries,
      ['198.19.98.1,tcp:80,0.0.0.0/1', '198.19.98.1,tcp:80,128.0.0.0/1'],
    );
  });
});
