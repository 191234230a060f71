/**
 * Which UDP conntrack entries a sync leaves stale: the iptables mode uses the kernel modes' shared pure
 * function (src/modes/common/udp_conntrack.ts), which reads a plan's `servicePorts` and their `udp`
 * targets exactly as this mode plans them.
 *
 * @module
 */
export {
  describeUdpConntrackDeletion,
  staleUdpConntrack,
  type UdpConntrackDeletion,
} from '../common/udp_conntrack.ts';
