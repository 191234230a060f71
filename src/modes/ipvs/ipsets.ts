/**
 * The ipsets of the ipvs mode (upstream's ipsetInfo): fixed names and types, one group per address family
 * (IPv6 sets are named `KUBE-6-...`), and the entry syntax for each type.
 *
 * @module
 */
import type { IpsetFamily, IpsetType } from '../../kernel/ipset.ts';
import type { IPFamily, Protocol } from '../../model/types.ts';

/** The role of each set (the IPv4 name). */
export type IpvsSetName =
  | 'KUBE-LOOP-BACK'
  | 'KUBE-CLUSTER-IP'
  | 'KUBE-EXTERNAL-IP'
  | 'KUBE-EXTERNAL-IP-LOCAL'
  | 'KUBE-LOAD-BALANCER'
  | 'KUBE-LOAD-BALANCER-FW'
  | 'KUBE-LOAD-BALANCER-LOCAL'
  | 'KUBE-LOAD-BALANCER-SOURCE-IP'
  | 'KUBE-LOAD-BALANCER-SOURCE-CIDR'
  | 'KUBE-NODE-PORT-TCP'
  | 'KUBE-NODE-PORT-LOCAL-TCP'
  | 'KUBE-NODE-PORT-UDP'
  | 'KUBE-NODE-PORT-LOCAL-UDP'
  | 'KUBE-NODE-PORT-SCTP-HASH'
  | 'KUBE-NODE-PORT-LOCAL-SCTP-HASH'
  | 'KUBE-HEALTH-CHECK-NODE-PORT'
  | 'KUBE-IPVS-IPS';

/** Every set, in upstream's order, with its type and purpose. */
export const IPVS_SETS: readonly {
  readonly name: IpvsSetName;
  readonly type: IpsetType;
  readonly comment: string;
}[] = [
  {
    name: 'KUBE-LOOP-BACK',
    type: 'hash:ip,port,ip',
    comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose',
  },
  {
    name: 'KUBE-CLUSTER-IP',
    type: 'hash:ip,port',
    comment: 'Kubernetes service cluster ip + port for masquerade purpose',
  },
  {
    name: 'KUBE-EXTERNAL-IP',
    type: 'hash:ip,port',
    comment: 'Kubernetes service external ip + port for masquerade and filter purpose',
  },
  {
    name: 'KUBE-EXTERNAL-IP-LOCAL',
    type: 'hash:ip,port',
    comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local',
  },
  { name: 'KUBE-LOAD-BALANCER', type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  {
    name: 'KUBE-LOAD-BALANCER-FW',
    type: 'hash:ip,port',
    comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange',
  },
  {
    name: 'KUBE-LOAD-BALANCER-LOCAL',
    type: 'hash:ip,port',
    comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local',
  },
  {
    name: 'KUBE-LOAD-BALANCER-SOURCE-IP',
    type: 'hash:ip,port,ip',
    comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose',
  },
  {
    name: 'KUBE-LOAD-BALANCER-SOURCE-CIDR',
    type: 'hash:ip,port,net',
    comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose',
  },
  {
    name: 'KUBE-NODE-PORT-TCP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport TCP port for masquerade purpose',
  },
  {
    name: 'KUBE-NODE-PORT-LOCAL-TCP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local',
  },
  {
    name: 'KUBE-NODE-PORT-UDP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport UDP port for masquerade purpose',
  },
  {
    name: 'KUBE-NODE-PORT-LOCAL-UDP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local',
  },
  {
    name: 'KUBE-NODE-PORT-SCTP-HASH',
    type: 'hash:ip,port',
    comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
  },
  {
    name: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
    type: 'hash:ip,port',
    comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
  },
  { name: 'KUBE-HEALTH-CHECK-NODE-PORT', type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  { name: 'KUBE-IPVS-IPS', type: 'hash:ip', comment: 'IPVS service addresses' },
];

/** The longest name ipset accepts (IPSET_MAXNAMELEN is 32 with the final NUL). */
export const IPSET_MAX_NAME_LENGTH = 31;

/**
 * The kernel name of a set for a family: the IPv4 name, or `KUBE-6-...` for IPv6 (ipset names are global,
 * and one set holds one family), cut to {@link IPSET_MAX_NAME_LENGTH} characters as upstream's NewIPSet
 * cuts it (`KUBE-6-LOAD-BALANCER-SOURCE-CIDR` would be one too long).
 *
 * @param name the set's role
 * @param family the family
 * @returns the name to create
 * @example ipsetName('KUBE-CLUSTER-IP', 'IPv6') // => 'KUBE-6-CLUSTER-IP'
 * @example ipsetName('KUBE-LOAD-BALANCER-SOURCE-CIDR', 'IPv6') // => 'KUBE-6-LOAD-BALANCER-SOURCE-CID'
 */
export function ipsetName(name: IpvsSetName, family: IPFamily): string {
  return family === 'IPv4' ? name : `KUBE-6-${name.slice('KUBE-'.length)}`.slice(0, IPSET_MAX_NAME_LENGTH);
}

/** Every set name kproxy's ipvs mode may ever create (for cleanup). */
export function allIpvsSetNames(): string[] {
  return IPVS_SETS.flatMap((s) => [ipsetName(s.name, 'IPv4'), ipsetName(s.name, 'IPv6')]);
}

/** The ipset family of an IP family. */
export function ipsetFamily(family: IPFamily): IpsetFamily {
  return family === 'IPv4' ? 'inet' : 'inet6';
}

/** `198.18.0.1,tcp:80`: an ip,port entry. */
export function ipPortEntry(ip: string, protocol: Protocol, port: number): string {
  return `${ip},${protocol.toLowerCase()}:${port}`;
}

/** `198.18.0.1,tcp:80,198.18.0.1`: an ip,port,ip entry. */
export function ipPortIpEntry(ip: string, protocol: Protocol, port: number, ip2: string): string {
  return `${ipPortEntry(ip, protocol, port)},${ip2}`;
}

/** `198.18.0.1,tcp:80,10.0.0.0/8` (a host network loses its prefix, as ipset prints it). */
export function ipPortNetEntry(ip: string, protocol: Protocol, port: number, cidr: string): string {
  const [net, prefix] = cidr.split('/');
  const full = net?.includes(':') ? '128' : '32';
  return `${ipPortEntry(ip, protocol, port)},${prefix === undefined || prefix === full ? net : cidr}`;
}
