/**
 * Walks one packet through a {@link UserspacePlan}: the built-in chain it enters (PREROUTING for a packet
 * from elsewhere, OUTPUT for one from this node), the first portal rule it matches, and the relay listener
 * that then picks a backend (round-robin: each endpoint equally likely; ClientIP affinity: the client's
 * current endpoint, which is any of them with equal probability for a new client). A plan is of one IP
 * family: a packet of the other family is not this plan's (`kproxy trace` picks the plan of the
 * destination's family).
 *
 * @module
 */
import { BlockList, isIPv4 } from 'node:net';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { TracePacket, TraceResult } from '../../contracts/trace.ts';
import { familyOf, hostPort, type PortalRule, type UserspacePlan } from './plan.ts';
import { jumpArgs, PORTAL_JUMPS, type PortalChain } from './portal_chains.ts';
import { portalRuleArgs, runtimePortNames } from './render.ts';

function isLoopback(ip: string): boolean {
  return ip === '::1' || (isIPv4(ip) && ip.startsWith('127.'));
}

function matches(rule: PortalRule, packet: TracePacket, isLocal: (ip: string) => boolean): boolean {
  if (rule.protocol !== packet.protocol.toLowerCase() || rule.dport !== packet.port) return false;
  if (rule.dstLocal && !isLocal(packet.destination)) return false;
  if (rule.destination === undefined) return true;
  const [network = '', bits] = rule.destination.split('/');
  const family = familyOf(network);
  if (family === undefined || familyOf(packet.destination) !== family) return false;
  const type = family === 'IPv6' ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  list.addSubnet(network, Number(bits ?? (family === 'IPv6' ? 128 : 32)), type);
  return list.check(packet.destination, type);
}

/**
 * Traces a packet.
 *
 * @param plan the plan (as `kproxy rules` shows it)
 * @param options the plan options (node IPs tell which sources are this node and which destinations local)
 * @param packet source, destination, port, protocol
 * @returns the verdict (DNAT when a portal redirects it to the relay, REJECT when that service port has no
 *   endpoints, NONE when no portal matches), the backends with probabilities, and the path
 * @example traceUserspace(plan, options, { source: '10.1.0.5', destination: '10.96.0.10', port: 80, protocol: 'TCP' })
 */
export function traceUserspace(plan: UserspacePlan, options: PlanOptions, packet: TracePacket): TraceResult {
  const isLocal = (ip: string): boolean => isLoopback(ip) || options.nodeIPs.includes(ip);
  if (familyOf(packet.destination) !== plan.family) {
    return {
      verdict: 'NONE',
      masquerade: false,
      backends: [],
      path: [`${packet.destination} is not ${plan.family}: this plan (${plan.family}) does not touch it`],
    };
  }
  if (plan.portals === 'off') return traceDirect(plan, packet, isLocal);
  const fromHost = isLocal(packet.source);
  const path: string[] = [];
  const builtin = fromHost ? 'OUTPUT' : 'PREROUTING';
  path.push(
    `nat ${builtin} (${fromHost ? 'the packet leaves a process on this node' : 'the packet arrives from elsewhere'})`,
  );
  const chains: PortalChain[] = fromHost
    ? ['KUBE-PORTALS-HOST', 'KUBE-NODEPORT-HOST']
    : ['KUBE-PORTALS-CONTAINER', 'KUBE-NODEPORT-CONTAINER'];
  for (const chain of chains) {
    const jump = PORTAL_JUMPS.find((j) => j.to === chain)!;
    if (jump.args.includes('addrtype') && !isLocal(packet.destination)) {
      path.push(`${builtin}: -j ${chain} skipped: ${packet.destination} is not a local address`);
      continue;
    }
    path.push(`${builtin}: ${jumpArgs(jump).join(' ')}`);
    const rule = plan.rules.find((r) => r.chain === chain && matches(r, packet, isLocal));
    if (rule === undefined) {
      path.push(`${chain}: no rule matches`);
      continue;
    }
    path.push(`${chain}: ${portalRuleArgs(rule, runtimePortNames(plan)).join(' ')}`);
    return relayVerdict(plan, rule.listenerId, path);
  }
  path.push('no portal matches: kproxy does not touch this packet');
  return { verdict: 'NONE', masquerade: false, backends: [], path };
}

/** Without portal rules: only a listener bound to the destination (a local address) serves the packet. */
function traceDirect(
  plan: UserspacePlan,
  packet: TracePacket,
  isLocal: (ip: string) => boolean,
): TraceResult {
  const path = ['--userspace-portals off: no rules; the relay serves the VIPs that are local addresses'];
  for (const sp of plan.servicePorts) {
    if (sp.protocol !== packet.protocol) continue;
    for (const l of sp.listeners) {
      const portal = l.portals.find(
        (p) =>
          p.port === packet.port &&
          (p.ip === undefined ? isLocal(packet.destination) : p.ip === packet.destination),
      );
      if (portal === undefined) continue;
      if (portal.ip !== undefined && !isLocal(packet.destination)) {
        path.push(
          `${packet.destination} is ${sp.key}'s ${portal.kind} but not a local address (as far as the node IPs tell): not reachable without portal rules`,
        );
        return { verdict: 'NONE', masquerade: false, backends: [], path };
      }
      const at =
        portal.ip === undefined ? `*:${packet.port} (node port)` : hostPort(packet.destination, packet.port);
      path.push(`a relay listener bound to ${at} accepts the packet`);
      return relayVerdict(plan, l.id, path);
    }
  }
  path.push('no portal matches: kproxy does not touch this packet');
  return { verdict: 'NONE', masquerade: false, backends: [], path };
}

function relayVerdict(plan: UserspacePlan, id: string, path: string[]): TraceResult {
  const sp = plan.servicePorts.find((s) => s.listeners.some((l) => l.id === id))!;
  const listener = sp.listeners.find((l) => l.id === id)!;
  const at =
    plan.portals === 'off'
      ? 'the portal address itself'
      : listener.proxyPort === 0
        ? `its proxy port (${runtimePortNames(plan).get(id) ?? 'PROXY_PORT'}, chosen at run time)`
        : `port ${listener.proxyPort}`;
  path.push(`userspace relay for ${sp.key} (${listener.role} endpoints) on ${at}`);
  const n = listener.endpoints.length;
  if (n === 0) {
    path.push('no endpoints: the relay accepts the connection and closes it');
    return { verdict: 'REJECT', masquerade: false, backends: [], path };
  }
  const affinity = sp.state.sessionAffinity;
  path.push(
    affinity.type === 'ClientIP'
      ? `session affinity ClientIP (${affinity.timeoutSeconds}s): the client's endpoint while it stays; a new client gets the next in round-robin`
      : `round-robin over ${n} endpoint${n === 1 ? '' : 's'}`,
  );
  path.push('the relay connects from this node to the endpoint (no masquerade rule needed)');
  return {
    verdict: 'DNAT',
    masquerade: false,
    backends: listener.endpoints.map((address) => ({ address, probability: 1 / n })),
    path,
  };
}
