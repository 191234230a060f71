/**
 * Local-traffic detection, resolved once for the kernel modes (upstream's LocalTrafficDetector,
 * pkg/proxy/util/localdetector.go): what a packet from one of this node's pods looks like for one IP
 * family — a source CIDR, an input interface, or an input-interface name prefix — and how each mode writes
 * it. An interface name or prefix is validated here, so that none reaches a rule unchecked.
 *
 * @module
 */
import {
  interfaceNamePrefixProblem,
  interfaceNameProblem,
  type LocalDetector,
  type PlanOptions,
} from '../../contracts/plan_options.ts';
import { formatCidr, parseCidr } from '../../kernel/iptables_address.ts';

/** How local traffic is matched, for one family. */
export type LocalMatch =
  | { readonly kind: 'cidr'; readonly cidr: string }
  | { readonly kind: 'interface'; readonly name: string }
  | { readonly kind: 'interface-prefix'; readonly prefix: string };

/** The CIDR as the family's save tool prints it (host bits cleared), or undefined when not of the family. */
function canonicalCidr(text: string, family: 4 | 6): string | undefined {
  const cidr = parseCidr(text, family === 6 ? 'IPv6' : 'IPv4');
  return cidr === undefined ? undefined : formatCidr(cidr);
}

/**
 * The detector in force: the options' own, else ClusterCIDR with `--cluster-cidr`.
 *
 * @param options the plan options
 * @returns the detector
 * @example localDetectorOf(planOptions({ clusterCIDRs: ['198.19.0.0/16'] })) // { mode: 'ClusterCIDR', cidrs: [...] }
 */
export function localDetectorOf(options: Pick<PlanOptions, 'clusterCIDRs' | 'localDetector'>): LocalDetector {
  return options.localDetector ?? { mode: 'ClusterCIDR', cidrs: options.clusterCIDRs };
}

/**
 * The local-traffic match of one family, as upstream builds its detector: the first CIDR of the family
 * (a warning names the others), the bridge, or the prefix; undefined when nothing is local (no CIDR of the
 * family, or mode None), and then the rules that need it are not written.
 *
 * @param options the plan options
 * @param family 4 or 6
 * @param warnings receives a warning when CIDRs of the family are dropped
 * @returns the match, or undefined
 * @throws Error when an interface name or prefix is invalid (the CLI refuses them earlier)
 * @example localMatchFor(planOptions({ clusterCIDRs: ['198.19.0.0/16'] }), 4, []) // { kind: 'cidr', cidr: '198.19.0.0/16' }
 */
export function localMatchFor(
  options: Pick<PlanOptions, 'clusterCIDRs' | 'localDetector'>,
  family: 4 | 6,
  warnings: string[],
): LocalMatch | undefined {
  const detector = localDetectorOf(options);
  switch (detector.mode) {
    case 'ClusterCIDR':
    case 'NodeCIDR': {
      const texts = detector.cidrs.filter((c) => canonicalCidr(c, family) !== undefined);
      if (texts.length > 1) {
        const what = detector.mode === 'ClusterCIDR' ? '--cluster-cidr' : 'pod CIDR of the Node';
        warnings.push(
          `Only the first IPv${family} ${what} is used to detect local traffic: ${texts.join(', ')}`,
        );
      }
      const first = texts[0];
      return first === undefined ? undefined : { kind: 'cidr', cidr: canonicalCidr(first, family) ?? first };
    }
    case 'BridgeInterface': {
      const problem = interfaceNameProblem(detector.name);
      if (problem !== undefined)
        throw new Error(`Invalid pod bridge interface ${JSON.stringify(detector.name)}: ${problem}`);
      return { kind: 'interface', name: detector.name };
    }
    case 'InterfaceNamePrefix': {
      const problem = interfaceNamePrefixProblem(detector.prefix);
      if (problem !== undefined)
        throw new Error(`Invalid pod interface name prefix ${JSON.stringify(detector.prefix)}: ${problem}`);
      return { kind: 'interface-prefix', prefix: detector.prefix };
    }
    case 'None':
      return undefined;
    default: {
      const never: never = detector;
      throw new Error(`Unknown local detector: ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The iptables arguments that match local traffic (upstream's `IfLocal`), or, negated, the rest
 * (`IfNotLocal`).
 *
 * @param match the local match
 * @param negated true for `IfNotLocal`
 * @returns e.g. `-s 198.19.0.0/16`, `! -i cbr0`, `-i veth+`
 * @example iptablesLocalMatch({ kind: 'interface-prefix', prefix: 'veth' }, false) // '-i veth+'
 */
export function iptablesLocalMatch(match: LocalMatch, negated: boolean): string {
  const not = negated ? '! ' : '';
  switch (match.kind) {
    case 'cidr':
      return `${not}-s ${match.cidr}`;
    case 'interface':
      return `${not}-i ${match.name}`;
    case 'interface-prefix':
      return `${not}-i ${match.prefix}+`;
    default: {
      const never: never = match;
      throw new Error(`Unknown local match: ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Whether a packet is local by this match, given its source and input interface; undefined when the
 * match is by interface and the input interface is unknown (a trace without `--in-interface`).
 *
 * @param match the local match
 * @param packet the source address test and the input interface, if known
 * @returns true, false, or undefined (undecidable)
 * @example isLocalPacket({ kind: 'interface', name: 'cbr0' }, { inSource: () => false, inInterface: 'cbr0' }) // true
 */
export function isLocalPacket(
  match: LocalMatch,
  packet: { readonly inSource: (cidr: string) => boolean; readonly inInterface: string | undefined },
): boolean | undefined {
  switch (match.kind) {
    case 'cidr':
      return packet.inSource(match.cidr);
    case 'interface':
      return packet.inInterface === undefined ? undefined : packet.inInterface === match.name;
    case 'interface-prefix':
      return packet.inInterface === undefined ? undefined : packet.inInterface.startsWith(match.prefix);
    default: {
      const never: never = match;
      throw new Error(`Unknown local match: ${JSON.stringify(never)}`);
    }
  }
}
