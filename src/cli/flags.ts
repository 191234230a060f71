/**
 * The flags that shape a plan, shared by `run`, `rules` and `trace` so that what `rules` prints is what
 * `run` programs with the same flags. Names follow kube-proxy's.
 *
 * @module
 */
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { type Command, Option } from 'commander';
import { KproxyError } from '../contracts/errors.ts';
import {
  interfaceNamePrefixProblem,
  interfaceNameProblem,
  type LocalDetector,
  type PlanOptions,
} from '../contracts/plan_options.ts';
import type { IptablesBackend } from '../contracts/proxy_mode.ts';

/** Raw values of the plan-shaping flags, as commander parses them. */
export interface PlanFlags {
  readonly hostnameOverride?: string;
  readonly nodeIp?: string[];
  readonly bindAddress?: string;
  readonly clusterCidr?: string;
  readonly detectLocalMode?: string;
  readonly podBridgeInterface?: string;
  readonly podInterfaceNamePrefix?: string;
  readonly masqueradeAll?: boolean;
  readonly iptablesMasqueradeBit: string;
  readonly ipvsScheduler: string;
  readonly nodeportAddresses?: string;
  readonly proxyPortRange?: string;
  readonly udpTimeout?: string;
  readonly udpIdleTimeout?: string;
  readonly iptablesBackend: string;
  readonly userspacePortals?: string;
  readonly userspaceRelayEngine?: string;
  readonly userspaceDrainTimeout?: string;
}

/** A flag had a bad value. */
export class FlagError extends KproxyError {
  override readonly name = 'FlagError';
  override readonly code = 'KPROXY_FLAG_INVALID';
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').filter(Boolean)];
}

/**
 * Adds the plan-shaping flags to a command.
 *
 * @param command a commander command
 * @returns the same command
 */
export function addPlanFlags(command: Command): Command {
  return command
    .option('--hostname-override <name>', 'the node name this proxy serves (default: the host name)')
    .option(
      '--node-ip <ip>',
      "the node's IP address(es) for NodePort and hairpin rules; repeat or comma-separate (default: the addresses of this host)",
      collect,
    )
    .option(
      '--bind-address <ip>',
      "overrides kproxy's idea of the node's primary IP, as kube-proxy's (no socket is bound to it; default 0.0.0.0: none)",
    )
    .option(
      '--cluster-cidr <cidrs>',
      'the pod CIDR, or a dual-stack pair (198.18.64.0/18,2001:2:0:40::/58): traffic from outside them to a ClusterIP is masqueraded',
    )
    .addOption(
      new Option(
        '--detect-local-mode <mode>',
        "how traffic from this node's pods is told apart: by --cluster-cidr, by the Node's podCIDRs, by --pod-bridge-interface or by --pod-interface-name-prefix (default ClusterCIDR)",
      ).choices(LOCAL_DETECT_MODES),
    )
    .option('--pod-bridge-interface <name>', "for --detect-local-mode BridgeInterface: the pods' bridge")
    .option(
      '--pod-interface-name-prefix <prefix>',
      "for --detect-local-mode InterfaceNamePrefix: the name prefix of the pods' interfaces",
    )
    .option('--masquerade-all', 'SNAT all traffic sent to service VIPs', false)
    .option('--iptables-masquerade-bit <bit>', 'the fwmark bit (0-31) that marks packets to masquerade', '14')
    .option(
      '--ipvs-scheduler <name>',
      'ipvs scheduler: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh',
      'rr',
    )
    .option(
      '--nodeport-addresses <cidrs>',
      "comma-separated CIDRs of node addresses that accept NodePort traffic, or 'primary' (the node's primary IP of each family: --bind-address, else the first --node-ip, else the first non-loopback address); default: all",
    )
    .option(
      '--proxy-port-range <from-to>',
      'userspace: the range of local ports for proxy listeners (default: random)',
    )
    .option('--udp-timeout <duration>', 'userspace: how long an idle UDP flow is kept (default 250ms)')
    .option('--udp-idle-timeout <duration>', 'the same as --udp-timeout')
    .addOption(
      new Option(
        '--userspace-portals <mode>',
        'userspace: nat rules that send VIPs to the relay: on, off (serve local VIPs by listening on them), or auto (when root and iptables allow)',
      )
        .choices(['auto', 'on', 'off'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--userspace-relay-engine <engine>',
        "userspace: how TCP is relayed: handles (Node's libuv TCP handles, fastest), net (net.Socket), or auto (handles where this Node offers them)",
      )
        .choices(['auto', 'handles', 'net'])
        .default('auto'),
    )
    .option(
      '--userspace-drain-timeout <duration>',
      'userspace: on stop, how long relayed connections may finish before they are closed (default 10s)',
    )
    .addOption(
      new Option('--iptables-backend <backend>', 'iptables backend to program')
        .choices(['auto', 'legacy', 'nft'])
        .default('auto'),
    );
}

/** kube-proxy's `--detect-local-mode` values. */
export const LOCAL_DETECT_MODES = [
  'ClusterCIDR',
  'NodeCIDR',
  'BridgeInterface',
  'InterfaceNamePrefix',
] as const;

/**
 * The local-traffic detector of the flags, validated as kube-proxy does (the interface flag of the mode
 * must be given; an interface name or prefix must be one Linux accepts, and safe in a rule). NodeCIDR
 * starts with no CIDRs: `run` fills them in from the Node's `spec.podCIDRs`.
 *
 * @param flags the detect-local flags
 * @param clusterCIDRs the parsed `--cluster-cidr`
 * @returns the detector
 * @throws FlagError for an unknown mode or a missing or invalid interface
 * @example localDetectorFromFlags({ detectLocalMode: 'BridgeInterface', podBridgeInterface: 'cbr0' }, []) // { mode: 'BridgeInterface', name: 'cbr0' }
 */
export function localDetectorFromFlags(
  flags: Pick<PlanFlags, 'detectLocalMode' | 'podBridgeInterface' | 'podInterfaceNamePrefix'>,
  clusterCIDRs: readonly string[],
): LocalDetector {
  const mode =
    flags.detectLocalMode === undefined || flags.detectLocalMode === ''
      ? 'ClusterCIDR'
      : flags.detectLocalMode;
  switch (mode) {
    case 'ClusterCIDR':
      return { mode, cidrs: clusterCIDRs };
    case 'NodeCIDR':
      return { mode, cidrs: [] };
    case 'BridgeInterface': {
      const name = flags.podBridgeInterface ?? '';
      if (name === '')
        throw new FlagError(
          'Invalid --pod-bridge-interface: must be set with --detect-local-mode BridgeInterface',
        );
      const problem = interfaceNameProblem(name);
      if (problem !== undefined)
        throw new FlagError(`Invalid --pod-bridge-interface: ${problem}, got ${JSON.stringify(name)}`);
      return { mode, name };
    }
    case 'InterfaceNamePrefix': {
      const prefix = flags.podInterfaceNamePrefix ?? '';
      if (prefix === '')
        throw new FlagError(
          'Invalid --pod-interface-name-prefix: must be set with --detect-local-mode InterfaceNamePrefix',
        );
      const problem = interfaceNamePrefixProblem(prefix);
      if (problem !== undefined)
        throw new FlagError(`Invalid --pod-interface-name-prefix: ${problem}, got ${JSON.stringify(prefix)}`);
      return { mode, prefix };
    }
    default:
      throw new FlagError(
        `Invalid --detect-local-mode: "${mode}" is not one of ${LOCAL_DETECT_MODES.join(', ')}`,
      );
  }
}

/**
 * The detector to switch to when the Node's pod CIDRs arrive or change (`--detect-local-mode NodeCIDR`):
 * upstream waits for them at start; kproxy re-plans once they come.
 *
 * @param current the detector in force
 * @param podCIDRs the Node's `spec.podCIDRs`
 * @returns the new detector, or undefined when nothing is to change (another mode, or no CIDR yet)
 * @example nodeCIDRDetector({ mode: 'NodeCIDR', cidrs: [] }, ['198.19.1.0/24']) // { mode: 'NodeCIDR', cidrs: ['198.19.1.0/24'] }
 */
export function nodeCIDRDetector(
  current: LocalDetector | undefined,
  podCIDRs: readonly string[],
): LocalDetector | undefined {
  if (current?.mode !== 'NodeCIDR' || podCIDRs.length === 0) return undefined;
  if (current.cidrs.join(',') === podCIDRs.join(',')) return undefined;
  return { mode: 'NodeCIDR', cidrs: [...podCIDRs] };
}

/**
 * `--cluster-cidr`: one CIDR, or a dual-stack pair (one per family), as kube-proxy validates it (and as
 * kproxy validates the configuration file's `clusterCIDR`): each family's Proxier takes its own.
 */
function clusterCIDRList(text: string | undefined): string[] {
  const cidrs = cidrList('cluster-cidr', text);
  if (cidrs.length > 2 || (cidrs.length === 2 && cidrs[0]!.includes(':') === cidrs[1]!.includes(':'))) {
    throw new FlagError(
      `Invalid --cluster-cidr: must be a CIDR or a dual-stack pair (e.g. 10.244.0.0/16,fd00:10:244::/56), got "${text}"`,
    );
  }
  return cidrs;
}

function cidrList(flag: string, text: string | undefined): string[] {
  const out = (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const cidr of out) {
    const [ip, bits, extra] = cidr.split('/');
    const family = isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      bits === undefined ||
      !/^\d+$/.test(bits) ||
      Number(bits) > max
    ) {
      throw new FlagError(`Invalid --${flag}: not a CIDR: "${cidr}"`);
    }
  }
  return out;
}

/** The IPv4/IPv6 addresses of this host's interfaces (of the network namespace kproxy runs in). */
export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv6' && a.address.startsWith('fe80:')) continue;
      out.push(a.address);
    }
  }
  return out.sort();
}

function isUnspecified(ip: string | undefined): boolean {
  return ip === undefined || ip === '' || ip === '0.0.0.0' || ip === '::';
}

/**
 * The node's primary IP of each family, as kube-proxy's `primary` NodePort addresses mean it: the
 * `--bind-address` (when it names an address), then the first `--node-ip` of each family, then the first
 * address of this host that is neither loopback nor link-local.
 *
 * @param flags `bindAddress` and `nodeIp`
 * @param local this host's addresses (tests pass their own)
 * @returns at most one IPv4 and one IPv6 address, IPv4 first
 * @example primaryNodeIPs({ nodeIp: ['198.18.0.1', '2001:2::1', '198.18.0.2'] }) // ['198.18.0.1', '2001:2::1']
 */
export function primaryNodeIPs(
  flags: Pick<PlanFlags, 'bindAddress' | 'nodeIp'>,
  local: () => string[] = localAddresses,
): string[] {
  const candidates = [
    ...(isUnspecified(flags.bindAddress) ? [] : [flags.bindAddress ?? '']),
    ...(flags.nodeIp ?? local().filter((ip) => !ip.startsWith('127.') && ip !== '::1')),
  ];
  const v4 = candidates.find((ip) => isIP(ip) === 4);
  const v6 = candidates.find((ip) => isIP(ip) === 6);
  return [...(v4 === undefined ? [] : [v4]), ...(v6 === undefined ? [] : [v6])];
}

function nodePortAddresses(flags: PlanFlags): string[] {
  const list = (flags.nodeportAddresses ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.includes('primary')) return cidrList('nodeport-addresses', flags.nodeportAddresses);
  if (list.length !== 1) {
    throw new FlagError(`Invalid --nodeport-addresses: "primary" cannot be combined with CIDRs`);
  }
  const primary = primaryNodeIPs(flags);
  if (primary.length === 0) {
    throw new FlagError(
      'Invalid --nodeport-addresses primary: the node has no primary IP: give --node-ip or --bind-address',
    );
  }
  return primary.map((ip) => (isIP(ip) === 6 ? `${ip}/128` : `${ip}/32`));
}

/**
 * Turns parsed flags into {@link PlanOptions}.
 *
 * @param flags the parsed flags
 * @param durationMs parses durations (kube-proxy's syntax)
 * @returns the options, validated
 * @throws FlagError for a bad value
 */
export function planOptionsFromFlags(flags: PlanFlags, durationMs: (text: string) => number): PlanOptions {
  const nodeIPs = flags.nodeIp ?? localAddresses();
  for (const ip of nodeIPs)
    if (isIP(ip) === 0) throw new FlagError(`Invalid --node-ip: not an IP address: "${ip}"`);
  if (flags.bindAddress !== undefined && isIP(flags.bindAddress) === 0) {
    throw new FlagError(`Invalid --bind-address: not an IP address: "${flags.bindAddress}"`);
  }
  const bit = Number(flags.iptablesMasqueradeBit);
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw new FlagError(
      `Invalid --iptables-masquerade-bit: must be 0-31, got "${flags.iptablesMasqueradeBit}"`,
    );
  }
  const schedulers = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'];
  if (!schedulers.includes(flags.ipvsScheduler)) {
    throw new FlagError(
      `Invalid --ipvs-scheduler: "${flags.ipvsScheduler}" is not one of ${schedulers.join(', ')}`,
    );
  }
  let proxyPortRange: PlanOptions['proxyPortRange'];
  if (flags.proxyPortRange !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(flags.proxyPortRange.trim());
    const from = Number(m?.[1]);
    const to = Number(m?.[2]);
    if (m === null || from < 1 || to > 65535 || from > to) {
      throw new FlagError(
        `Invalid --proxy-port-range: expected FROM-TO within 1-65535, got "${flags.proxyPortRange}"`,
      );
    }
    proxyPortRange = { from, to };
  }
  const udpTimeout = flags.udpTimeout ?? flags.udpIdleTimeout;
  const userspacePortals = flags.userspacePortals ?? 'auto';
  if (userspacePortals !== 'auto' && userspacePortals !== 'on' && userspacePortals !== 'off') {
    throw new FlagError(`Invalid --userspace-portals: "${userspacePortals}" is not one of auto, on, off`);
  }
  const userspaceRelayEngine = flags.userspaceRelayEngine ?? 'auto';
  if (
    userspaceRelayEngine !== 'auto' &&
    userspaceRelayEngine !== 'handles' &&
    userspaceRelayEngine !== 'net'
  ) {
    throw new FlagError(
      `Invalid --userspace-relay-engine: "${userspaceRelayEngine}" is not one of auto, handles, net`,
    );
  }
  const drain = flags.userspaceDrainTimeout;
  const clusterCIDRs = clusterCIDRList(flags.clusterCidr);
  return {
    nodeName: flags.hostnameOverride ?? hostname(),
    nodeIPs,
    clusterCIDRs,
    localDetector: localDetectorFromFlags(flags, clusterCIDRs),
    masqueradeAll: flags.masqueradeAll ?? false,
    masqueradeBit: bit,
    ipvsScheduler: flags.ipvsScheduler,
    nodePortAddresses: nodePortAddresses(flags),
    proxyPortRange,
    udpIdleTimeoutMs: udpTimeout === undefined ? 250 : durationMs(udpTimeout),
    userspacePortals,
    userspaceRelayEngine,
    userspaceDrainTimeoutMs: drain === undefined ? 10_000 : durationMs(drain),
  };
}

/** Narrows the backend flag. */
export function iptablesBackend(flags: PlanFlags): IptablesBackend {
  const value = flags.iptablesBackend;
  if (value === 'auto' || value === 'legacy' || value === 'nft') return value;
  throw new FlagError(`Invalid --iptables-backend: "${value}"`);
}
