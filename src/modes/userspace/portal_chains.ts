/**
 * The chains the userspace mode owns and the fixed jumps that lead to them from the built-in chains, as
 * kube-proxy 1.x's userspace proxier named and installed them: KUBE-PORTALS-CONTAINER from PREROUTING,
 * KUBE-PORTALS-HOST from OUTPUT (both first), KUBE-NODEPORT-CONTAINER / KUBE-NODEPORT-HOST for node ports
 * (last, on local destinations), and filter KUBE-NODEPORT-NON-LOCAL from INPUT to let node-port traffic in.
 *
 * One chain is kproxy's own: filter KUBE-PORTALS-GUARD, jumped to first from INPUT for the first packet of
 * a connection that a portal rule redirected to this host. It drops such a packet when no socket listens on
 * its proxy port (kproxy is restarting: killed, stopped or not yet bound), so that the client's TCP
 * retransmits its SYN (after 1 s, then 3 s) and reaches the restarted relay, instead of being refused with
 * a reset. kube-proxy 1.x's userspace proxier refused such connections (its rules stayed behind too).
 *
 * @module
 */

/** The tables the mode's chains are in. */
export type PortalTable = 'nat' | 'filter';

/** The tables, in the order they are restored and printed. */
export const PORTAL_TABLES: readonly PortalTable[] = ['nat', 'filter'];

/** The chains the userspace mode owns. */
export type PortalChain =
  | 'KUBE-PORTALS-CONTAINER'
  | 'KUBE-PORTALS-HOST'
  | 'KUBE-NODEPORT-CONTAINER'
  | 'KUBE-NODEPORT-HOST'
  | 'KUBE-NODEPORT-NON-LOCAL'
  | 'KUBE-PORTALS-GUARD';

/** A fixed rule that sends a built-in chain to one of ours; ensured (checked, then inserted) by the applier. */
export interface PortalJump {
  readonly table: PortalTable;
  readonly from: 'PREROUTING' | 'OUTPUT' | 'INPUT';
  readonly to: PortalChain;
  /** Insert first (portals) or append last (node ports, which match broadly). */
  readonly position: 'first' | 'last';
  /** The rule's match arguments, without `-j`. */
  readonly args: readonly string[];
}

/** Every chain the mode owns, per table, in a fixed order. */
export const PORTAL_CHAINS: Readonly<Record<PortalTable, readonly PortalChain[]>> = {
  nat: ['KUBE-PORTALS-CONTAINER', 'KUBE-PORTALS-HOST', 'KUBE-NODEPORT-CONTAINER', 'KUBE-NODEPORT-HOST'],
  filter: ['KUBE-NODEPORT-NON-LOCAL', 'KUBE-PORTALS-GUARD'],
};

/** Node ports are matched last, on local destinations only (kube-proxy 1.x's text). */
const NODEPORT_JUMP_ARGS = [
  '-m',
  'addrtype',
  '--dst-type',
  'LOCAL',
  '-m',
  'comment',
  '--comment',
  'handle service NodePorts; NOTE: this must be the last rule in the chain',
] as const;

/**
 * The jumps from built-in chains, in the order they are ensured: the filter ones first, so that a portal
 * never leads anywhere before its guard is in place (a kproxy killed during its first sync), then the nat
 * ones in the order upstream installs them.
 */
export const PORTAL_JUMPS: readonly PortalJump[] = [
  {
    table: 'filter',
    from: 'INPUT',
    to: 'KUBE-NODEPORT-NON-LOCAL',
    position: 'first',
    args: ['-m', 'comment', '--comment', 'Ensure that non-local NodePort traffic can flow'],
  },
  {
    // After KUBE-NODEPORT-NON-LOCAL: inserted first after it, so that it comes before its ACCEPT.
    table: 'filter',
    from: 'INPUT',
    to: 'KUBE-PORTALS-GUARD',
    position: 'first',
    args: [
      '-m',
      'conntrack',
      '--ctstate',
      'NEW',
      '-m',
      'conntrack',
      '--ctstate',
      'DNAT',
      '-m',
      'comment',
      '--comment',
      'hold new connections to kproxy relay ports while kproxy restarts',
    ],
  },
  {
    table: 'nat',
    from: 'PREROUTING',
    to: 'KUBE-PORTALS-CONTAINER',
    position: 'first',
    args: ['-m', 'comment', '--comment', 'handle ClusterIPs; NOTE: this must be before the NodePort rules'],
  },
  {
    table: 'nat',
    from: 'OUTPUT',
    to: 'KUBE-PORTALS-HOST',
    position: 'first',
    args: ['-m', 'comment', '--comment', 'handle ClusterIPs; NOTE: this must be before the NodePort rules'],
  },
  {
    table: 'nat',
    from: 'PREROUTING',
    to: 'KUBE-NODEPORT-CONTAINER',
    position: 'last',
    args: NODEPORT_JUMP_ARGS,
  },
  {
    table: 'nat',
    from: 'OUTPUT',
    to: 'KUBE-NODEPORT-HOST',
    position: 'last',
    args: NODEPORT_JUMP_ARGS,
  },
];

/**
 * The first rule of KUBE-PORTALS-GUARD: a packet whose proxy port has a listening socket goes on. The
 * socket match cannot be negated, hence a RETURN before the per-port DROPs; `--nowildcard` because the
 * relay listens on the any-address, which the match ignores by default.
 */
export const GUARD_LISTENING_ARGS: readonly string[] = ['-m', 'socket', '--nowildcard', '-j', 'RETURN'];

/**
 * The arguments of a jump rule (match and `-j CHAIN`).
 *
 * @param jump the jump
 * @returns arguments after `-I/-A/-C/-D FROM`
 * @example jumpArgs(PORTAL_JUMPS[0]!)
 */
export function jumpArgs(jump: PortalJump): string[] {
  return [...jump.args, '-j', jump.to];
}
