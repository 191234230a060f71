/**
 * The ipvs mode's view of its plan for UDP conntrack cleanup: per UDP service port, the service IPs and
 * node port its virtual servers serve and the real servers behind them, so that the cleanup every kernel
 * mode shares (modes/common/udp_conntrack.ts, upstream's conntrack cleanup after a sync) reads an ipvs
 * plan as it reads an iptables or nftables one. With `net.ipv4.vs.conntrack=1` IPVS keeps conntrack
 * entries whose reply comes from the real server, so the same deletions apply: entries DNATed to a real
 * server a service port no longer has, and entries to the addresses of a service port that gets its first
 * real server (or goes away), which would otherwise keep a client's packets off the new virtual server.
 *
 * @module
 */
import type { ServicePortKey } from '../../model/types.ts';
import type { UdpPlan, UdpServicePort } from '../common/udp_conntrack.ts';
import type { IpvsPlan } from './plan.ts';

/**
 * The UDP service ports of a plan, as the shared cleanup reads them (keyed by service port, in the
 * plan's order of virtual servers).
 *
 * @param plan an ipvs plan
 * @returns the UDP service ports (TCP and SCTP ones are left out: they need no cleanup)
 * @example staleUdpConntrack(ipvsUdpPlan(applied), ipvsUdpPlan(plan))
 */
export function ipvsUdpPlan(plan: IpvsPlan): UdpPlan<ServicePortKey> {
  const ports = new Map<
    ServicePortKey,
    { serviceIPs: string[]; nodePort: number; endpointIPs: Set<string> }
  >();
  for (const vs of plan.virtualServers) {
    if (vs.protocol !== 'UDP') continue;
    let port = ports.get(vs.servicePort);
    if (port === undefined) {
      port = { serviceIPs: [], nodePort: 0, endpointIPs: new Set() };
      ports.set(vs.servicePort, port);
    }
    // A NodePort has one virtual server per node address, all on the same port: entries match the port.
    if (vs.role === 'nodePort') port.nodePort = vs.port;
    else port.serviceIPs.push(vs.address);
    for (const rs of vs.realServers) port.endpointIPs.add(rs.address);
  }
  const servicePorts = new Map<ServicePortKey, UdpServicePort>();
  for (const [key, p] of ports) {
    servicePorts.set(key, {
      udp: { serviceIPs: p.serviceIPs, nodePort: p.nodePort, endpointIPs: [...p.endpointIPs].sort() },
    });
  }
  return { servicePorts };
}
