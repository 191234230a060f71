/**
 * kube-proxy's flags that kproxy accepts but does not act on yet, so that a kube-proxy command line (a
 * DaemonSet's `command`) runs unchanged: each one given is parsed, lands in the effective configuration
 * (`/configz`, `--write-config-to`) and yields one warning. With `--config`, the file wins over them, as
 * over every flag that sets one of its fields. The node-tuning flags (`--conntrack-*`, `--oom-score-adj`)
 * are read the same way but are supported (src/kernel/node_tuning.ts applies them), and so are the ipvs
 * ones (`--ipvs-strict-arp`, `--ipvs-exclude-cidrs`, `--ipvs-*-timeout`: src/modes/ipvs/tuning.ts): they
 * warn only when `--config` overrides them.
 *
 * @module
 */
import { type Command, Option } from 'commander';
import { formatGoDuration, parseGoDuration } from './config/go_duration.ts';
import type { KubeProxyConfiguration } from './config/types.ts';
import { isCidr } from './config/validate.ts';
import { FlagError } from './flags.ts';

/** How a flag's value is read (as kube-proxy's pflag types). */
type FlagValue = 'int' | 'float' | 'duration' | 'bool' | 'list' | 'gates' | 'string';

/** One flag: its name, the configuration field it sets (none for the deprecated port flags) and its type. */
export interface IgnoredFlag {
  readonly name: string;
  readonly field: string | undefined;
  readonly value: FlagValue;
  readonly description: string;
  /** True when kproxy acts on it (no "not supported yet" warning). */
  readonly supported: boolean;
}

/** The node-tuning and ipvs flags: supported (they set their fields, which kproxy applies). */
function supportedFlags(rows: readonly [string, string, FlagValue, string][]): IgnoredFlag[] {
  return rows.map(([name, field, value, description]) => flag(name, field, value, description, true));
}

const flag = (
  name: string,
  field: string | undefined,
  value: FlagValue,
  description: string,
  supported = false,
): IgnoredFlag => ({
  name,
  field,
  value,
  description,
  supported,
});

/** Every flag read here, in kube-proxy's order: the ignored ones and the node-tuning ones. */
export const KUBE_PROXY_FIELD_FLAGS: readonly IgnoredFlag[] = [
  flag('feature-gates', 'featureGates', 'gates', 'feature gates, key=value pairs'),
  flag('kube-api-content-type', 'clientConnection.contentType', 'string', 'content type of API requests'),
  flag('kube-api-burst', 'clientConnection.burst', 'int', 'API client burst'),
  flag('kube-api-qps', 'clientConnection.qps', 'float', 'API client QPS'),
  flag('bind-address-hard-fail', 'bindAddressHardFail', 'bool', 'exit when a server cannot bind'),
  flag('profiling', 'enableProfiling', 'bool', '/debug/pprof on the metrics port'),
  flag('show-hidden-metrics-for-version', 'showHiddenMetricsForVersion', 'string', 'show hidden metrics'),
  flag('iptables-localhost-nodeports', 'iptables.localhostNodePorts', 'bool', 'NodePorts on 127.0.0.1'),
  ...supportedFlags([
    [
      'ipvs-exclude-cidrs',
      'ipvs.excludeCIDRs',
      'list',
      'CIDRs whose IPVS virtual servers the ipvs mode never deletes',
    ],
    ['ipvs-strict-arp', 'ipvs.strictARP', 'bool', 'ipvs mode: set arp_ignore=1 and arp_announce=2'],
    ['ipvs-tcp-timeout', 'ipvs.tcpTimeout', 'duration', 'IPVS TCP idle timeout (0: as it is)'],
    ['ipvs-tcpfin-timeout', 'ipvs.tcpFinTimeout', 'duration', 'IPVS TCP FIN_WAIT timeout (0: as it is)'],
    ['ipvs-udp-timeout', 'ipvs.udpTimeout', 'duration', 'IPVS UDP timeout (0: as it is)'],
  ]),
  ...supportedFlags([
    ['oom-score-adj', 'oomScoreAdj', 'int', "kproxy's oom_score_adj, -1000 to 1000 (default -999)"],
    [
      'conntrack-max-per-core',
      'conntrack.maxPerCore',
      'int',
      'raise nf_conntrack_max to this per CPU (default 32768; 0: leave the limit and --conntrack-min alone)',
    ],
    ['conntrack-min', 'conntrack.min', 'int', 'nf_conntrack_max at least this (default 131072)'],
    [
      'conntrack-tcp-timeout-established',
      'conntrack.tcpEstablishedTimeout',
      'duration',
      'nf_conntrack_tcp_timeout_established (default 24h0m0s; 0: as it is)',
    ],
    [
      'conntrack-tcp-timeout-close-wait',
      'conntrack.tcpCloseWaitTimeout',
      'duration',
      'nf_conntrack_tcp_timeout_close_wait (default 1h0m0s; 0: as it is)',
    ],
    ['conntrack-tcp-be-liberal', 'conntrack.tcpBeLiberal', 'bool', 'set nf_conntrack_tcp_be_liberal=1'],
    ['conntrack-udp-timeout', 'conntrack.udpTimeout', 'duration', 'nf_conntrack_udp_timeout (0: as it is)'],
    [
      'conntrack-udp-timeout-stream',
      'conntrack.udpStreamTimeout',
      'duration',
      'nf_conntrack_udp_timeout_stream (0: as it is)',
    ],
  ]),
  flag('config-sync-period', 'configSyncPeriod', 'duration', 'informer resync period'),
  flag('healthz-port', undefined, 'int', 'deprecated upstream: use --healthz-bind-address'),
  flag('metrics-port', undefined, 'int', 'deprecated upstream: use --metrics-bind-address'),
  flag('v', 'logging.verbosity', 'int', 'klog verbosity'),
  flag('vmodule', undefined, 'string', 'klog per-file verbosity'),
  flag('log-flush-frequency', 'logging.flushFrequency', 'duration', 'klog flush period'),
];

/** The flags of kube-proxy that kproxy accepts and ignores, with a warning. */
export const IGNORED_KUBE_PROXY_FLAGS: readonly IgnoredFlag[] = KUBE_PROXY_FIELD_FLAGS.filter(
  (f) => !f.supported,
);

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Adds the flags to `run` (hidden from nothing: `--help` lists them as ignored).
 *
 * @param command the `run` command
 * @returns the same command
 * @example addIgnoredFlags(program.command('run'))
 */
export function addIgnoredFlags(command: Command): Command {
  for (const f of KUBE_PROXY_FIELD_FLAGS) {
    const spelling =
      f.name === 'v' ? '-v, --v <level>' : f.value === 'bool' ? `--${f.name} [bool]` : `--${f.name} <value>`;
    const help = f.supported
      ? `kube-proxy's: ${f.description}`
      : `kube-proxy's: ${f.description}; accepted, not supported yet: ignored`;
    command.addOption(new Option(spelling, help));
  }
  return command;
}

function parseValue(f: IgnoredFlag, raw: unknown): unknown {
  // pflag also takes `-v=2`, which commander hands over as "=2".
  const text = raw === true ? 'true' : String(raw).replace(/^=/, '');
  const bad = (what: string) => new FlagError(`Invalid --${f.name}: ${what}, got "${text}"`);
  switch (f.value) {
    case 'int': {
      if (!/^-?\d+$/.test(text)) throw bad('not an integer');
      return Number(text);
    }
    case 'float': {
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw bad('not a number');
      return Number(text);
    }
    case 'duration': {
      const ms = parseGoDuration(text);
      if (ms === undefined) throw bad('not a duration (e.g. 30s, 1h0m0s)');
      return ms;
    }
    case 'bool': {
      if (text !== 'true' && text !== 'false') throw bad('not true or false');
      return text === 'true';
    }
    case 'list':
      return text.split(',').filter(Boolean);
    case 'gates': {
      const out: Record<string, boolean> = {};
      for (const pair of text.split(',').filter(Boolean)) {
        const [key, value] = pair.split('=');
        if (key === undefined || (value !== 'true' && value !== 'false'))
          throw bad('not key=true|false pairs');
        out[key] = value === 'true';
      }
      return out;
    }
    case 'string':
      return text;
    default: {
      const never: never = f.value;
      throw new Error(`Unknown flag type: ${String(never)}`);
    }
  }
}

/** The ipvs flags' values as upstream's validation takes them (checked in every mode: a typo fails early). */
function checkValue(f: IgnoredFlag, value: unknown): void {
  if (f.name === 'ipvs-exclude-cidrs') {
    const bad = (value as string[]).find((cidr) => !isCidr(cidr));
    if (bad !== undefined) throw new FlagError(`Invalid --${f.name}: not a CIDR, got "${bad}"`);
  } else if (f.field?.startsWith('ipvs.') === true && f.value === 'duration' && (value as number) < 0) {
    throw new FlagError(
      `Invalid --${f.name}: must be greater than or equal to 0, got ${formatGoDuration(value as number)}`,
    );
  }
}

/**
 * Reads the flags of this file that were given: sets their fields in a configuration built from flags,
 * and returns one warning per ignored flag (and, with `--config`, per flag the file overrides).
 *
 * @param flags parsed flags (commander's keys)
 * @param config the configuration built from flags (changed in place), or undefined with `--config`
 * @returns the warnings
 * @throws FlagError for a value of the wrong type
 * @example ignoredFlagWarnings(flags, config) // ['--ipvs-strict-arp: not supported yet: ignored']
 */
export function ignoredFlagWarnings(
  flags: Readonly<Record<string, unknown>>,
  config: KubeProxyConfiguration | undefined,
): string[] {
  const out: string[] = [];
  for (const f of KUBE_PROXY_FIELD_FLAGS) {
    const raw = flags[camel(f.name)];
    if (raw === undefined) continue;
    const value = parseValue(f, raw);
    checkValue(f, value);
    if (config === undefined) {
      out.push(
        f.field === undefined
          ? `--${f.name} is ignored: --config is given (as kube-proxy)`
          : `--${f.name} is ignored: --config is given, and its ${f.field} wins (as kube-proxy)`,
      );
      continue;
    }
    if (f.field !== undefined) {
      const keys = f.field.split('.');
      let target = config as unknown as Record<string, unknown>;
      for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
      target[keys.at(-1) ?? ''] = value;
    }
    if (!f.supported) out.push(`--${f.name}: not supported yet: ignored`);
  }
  return out;
}
