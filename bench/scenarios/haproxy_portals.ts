/**
 * HAProxy behind kproxy's own userspace portal rules: the reference relay, reached through a VIP the way
 * kproxy's userspace mode is (a REDIRECT per connection, conntrack, and every jump of the mode's chains).
 * The rules are kproxy's: the userspace plan of two services whose proxy ports are HAProxy's ports,
 * applied by the mode's own applier (portal_rules.ts). HAProxy reached directly pays none of this, so the
 * pair shows what the portal design costs a relay as fast as HAProxy, apart from what the relay costs.
 *
 * @module
 */

import type { IptablesBackend } from '../../src/contracts/proxy_mode.ts';
import { createExec } from '../../src/kernel/exec.ts';
import type { Lab } from '../../src/lab/lab.ts';
import { endpointAt, planOptions, proxyState } from '../../src/model/testing/fixtures.ts';
import {
  listenerId,
  PortalRules,
  planUserspace,
  type UserspacePlan,
} from '../../src/modes/userspace/index.ts';
import { clusterIpServicePort } from './service_ports.ts';

/** The node the portal plan is made for (ClusterIP portals do not depend on it). */
const PORTAL_NODE_NAME = 'node-a';

/** A VIP:port redirected to a local port (HAProxy's, bound on every address). */
export interface PortalForward {
  readonly name: string;
  readonly vip: string;
  readonly port: number;
  readonly toPort: number;
  /** The backend behind it (only for the plan's endpoint list: HAProxy has its own server line). */
  readonly endpoint: string;
}

/**
 * kproxy's userspace plan for these forwards, with the proxy ports given.
 *
 * @param nodeIP the node's address
 * @param forwards the VIPs and the ports they go to
 * @returns the plan (portal rules for every forward)
 * @example haproxyPortalPlan('198.18.0.1', [{ name: 'http', vip: '198.19.0.20', port: 80, toPort: 18081, endpoint: '198.18.101.2:8080' }])
 */
export function haproxyPortalPlan(nodeIP: string, forwards: readonly PortalForward[]): UserspacePlan {
  const ports = forwards.map((f) =>
    clusterIpServicePort({
      serviceName: `haproxy-${f.name}`,
      clusterIPs: [f.vip],
      port: f.port,
      endpoints: [endpointAt(f.endpoint)],
    }),
  );
  const proxyPorts = new Map(
    ports.map((sp, i) => [listenerId(sp.key, 'internal'), forwards[i]!.toPort] as const),
  );
  return planUserspace(
    proxyState(ports, { nodeName: PORTAL_NODE_NAME }),
    planOptions({ nodeName: PORTAL_NODE_NAME, nodeIPs: [nodeIP], userspacePortals: 'on' }),
    { proxyPorts },
  );
}

/**
 * Applies the portal rules of {@link haproxyPortalPlan} in a lab namespace.
 *
 * @param lab the lab
 * @param ns its node namespace
 * @param backend the iptables backend, as kproxy would use it
 * @param forwards the VIPs and the ports they go to
 * @returns a function that removes the rules again
 */
export async function applyHaproxyPortals(
  lab: Lab,
  ns: string,
  backend: IptablesBackend,
  forwards: readonly PortalForward[],
): Promise<() => Promise<void>> {
  if (!lab.namespaces.includes(ns)) throw new Error(`Not a namespace of this lab: ${ns}`);
  const rules = new PortalRules(createExec({ netns: ns }), backend);
  await rules.apply(haproxyPortalPlan(lab.node.ip, forwards));
  return () => rules.cleanup();
}
