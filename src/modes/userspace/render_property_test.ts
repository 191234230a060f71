/**
 * Properties of the userspace mode's portal rules (issue 17), for any valid state (generated Services and
 * EndpointSlices with hostile but valid names, many ports and endpoints, every policy): with the proxy
 * ports bound, the portal rules are restore input the strict iptables fake accepts, each comment one
 * argument of printable text. Generators: src/model/testing/arbitraries.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { tokenizeRestoreLine } from '../../kernel/iptables_restore.ts';
import { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import {
  ARB_CLUSTER_CIDR,
  ARB_NODE_IP,
  arbProxyState,
  propertyParameters,
} from '../../model/testing/arbitraries.ts';
import { planOptions } from '../../model/testing/fixtures.ts';
import { buildServicePorts } from '../../tracker/service_port_builder.ts';
import { bindProxyPorts, planUserspace } from './plan.ts';
import { PORTAL_TABLES } from './portal_chains.ts';
import { renderPortalTable } from './render.ts';

const arbOptions = fc
  .record({ nodePortAddresses: fc.constantFrom([], ['198.18.0.100/32']) })
  .map((o) => planOptions({ nodeIPs: [ARB_NODE_IP], clusterCIDRs: [ARB_CLUSTER_CIDR], ...o }));

describe('userspace rendering properties', () => {
  it('portal rules with bound proxy ports are restore input the strict fake accepts', () => {
    fc.assert(
      fc.property(arbProxyState(buildServicePorts), arbOptions, (state, options) => {
        const plan = planUserspace(state, options, { proxyPorts: 'runtime' });
        // What the Proxier does once its sockets are bound: every listener gets a port of its own.
        const bound = new Map<string, number>();
        for (const sp of plan.servicePorts) for (const l of sp.listeners) bound.set(l.id, 40000 + bound.size);
        const boundPlan = bindProxyPorts(plan, bound);
        const fake = new FakeIptables();
        for (const table of PORTAL_TABLES) {
          const input = renderPortalTable(boundPlan, table);
          for (const line of input.split('\n').slice(0, -1)) {
            assert.match(
              line,
              /^(\*(nat|filter)|:[A-Z][A-Z0-9-]* - \[0:0\]|-A [A-Z][A-Z0-9-]* .+|COMMIT)$/,
              line,
            );
            const args = tokenizeRestoreLine(line);
            args.forEach((arg, i) => {
              if (args[i - 1] === '--comment') assert.match(arg, /^[\x20-\x7e]{1,255}$/, line);
              else assert.match(arg, /^[^\s"\\]+$/, `an argument that is not one word: ${line}`);
            });
          }
          const r = fake.answer('restore', ['--noflush'], input);
          assert.equal(r.code, 0, `${table}: ${r.stderr}`);
        }
      }),
      propertyParameters(60),
    );
  });
});
