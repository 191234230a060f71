/**
 * The IPVS seam: lists the kernel's virtual-server table (`ipvsadm -Ln --exact`) and programs changes in
 * one `ipvsadm -R` (restore) run. The same command rendering backs `kproxy rules --proxy-mode ipvs`.
 *
 * @module
 */
import { KproxyError } from '../contracts/errors.ts';
import type { Exec } from './exec.ts';
import { KernelError, mustExec } from './exec.ts';

/** The layer-4 protocols IPVS serves. */
export type IpvsProtocol = 'TCP' | 'UDP' | 'SCTP';

/** Every scheduler of the Linux IPVS implementation that kproxy accepts. */
export const IPVS_SCHEDULERS = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'lblcr',
  'dh',
  'sh',
  'sed',
  'nq',
  'mh',
] as const;

/** One IPVS scheduler name. */
export type IpvsScheduler = (typeof IPVS_SCHEDULERS)[number];

/** Scheduler flags (`ipvsadm -b`): the sh and mh schedulers' fallback and port-hashing options. */
export type IpvsSchedulerFlag = 'sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port';

/** A virtual server as kproxy programs it (its identity is protocol + address + port). */
export interface IpvsVirtualServer {
  readonly protocol: IpvsProtocol;
  readonly address: string;
  readonly port: number;
  readonly scheduler: string;
  /** Sorted. */
  readonly flags: readonly IpvsSchedulerFlag[];
  /** Seconds of persistence (ClientIP affinity); undefined = not persistent. */
  readonly persistentTimeout: number | undefined;
}

/** A real server of a virtual server. kproxy only uses masquerading (NAT) forwarding. */
export interface IpvsRealServer {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
}

/** A real server as listed, with its connection counters. */
export interface ListedRealServer extends IpvsRealServer {
  readonly forward: 'Masq' | 'Route' | 'Tunnel' | 'Local';
  readonly activeConnections: number;
  readonly inactiveConnections: number;
}

/** A virtual server as listed, with its real servers. */
export interface ListedVirtualServer extends IpvsVirtualServer {
  readonly realServers: readonly ListedRealServer[];
}

/** One change to the IPVS table. */
export type IpvsCommand =
  | { readonly op: 'add-service'; readonly service: IpvsVirtualServer }
  | { readonly op: 'edit-service'; readonly service: IpvsVirtualServer }
  | { readonly op: 'delete-service'; readonly service: IpvsServiceId }
  | { readonly op: 'add-server'; readonly service: IpvsServiceId; readonly server: IpvsRealServer }
  | { readonly op: 'edit-server'; readonly service: IpvsServiceId; readonly server: IpvsRealServer }
  | { readonly op: 'delete-server'; readonly service: IpvsServiceId; readonly server: IpvsServiceId };

/** What identifies a virtual server (or, without protocol, a real server). */
export interface IpvsServiceId {
  readonly protocol: IpvsProtocol;
  readonly address: string;
  readonly port: number;
}

/**
 * IPVS's connection timeouts, in whole seconds (`ipvsadm --set TCP TCPFIN UDP`, upstream's
 * `ConfigureTimeouts`); 0 leaves that timeout as the kernel has it.
 */
export interface IpvsTimeouts {
  readonly tcp: number;
  readonly tcpFin: number;
  readonly udp: number;
}

/** The IPVS seam. */
export interface Ipvs {
  /** The kernel's table, as it is now. */
  list(): Promise<ListedVirtualServer[]>;
  /**
   * One virtual server as the kernel has it now (`ipvsadm -L -n --exact -t VIP:PORT`), or undefined when
   * the kernel has no such virtual server. Costs one ipvsadm run, independent of the table's size.
   */
  listService(id: IpvsServiceId): Promise<ListedVirtualServer | undefined>;
  /** Applies commands in order, in one restore run; throws {@link KernelError} if any fails. */
  apply(commands: readonly IpvsCommand[]): Promise<{ readonly bytes: number; readonly lines: number }>;
  /** Removes every virtual server (`ipvsadm -C`). */
  flush(): Promise<void>;
  /**
   * Sets the connection timeouts (`ipvsadm --set`; a 0 keeps that one). Global to the network namespace.
   *
   * @throws {TypeError} for a value that is not a whole number of seconds from 0 to {@link MAX_IPVS_TIMEOUT}
   */
  setTimeouts(timeouts: IpvsTimeouts): Promise<void>;
  /** The connection timeouts now (`ipvsadm -L --timeout`). */
  timeouts(): Promise<IpvsTimeouts>;
}

/**
 * The largest timeout kproxy writes, in seconds: the kernel keeps IPVS timeouts in jiffies in an int, so
 * larger values would overflow at HZ=1000 (2^31 / 1000, rounded down).
 */
export const MAX_IPVS_TIMEOUT = 2_147_483;

/**
 * Checks timeouts before they are written.
 *
 * @param timeouts the timeouts, in seconds
 * @throws {TypeError} naming the first bad one
 * @example checkIpvsTimeouts({ tcp: 900, tcpFin: 120, udp: 300 })
 */
export function checkIpvsTimeouts(timeouts: IpvsTimeouts): void {
  for (const [name, value] of Object.entries(timeouts)) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_IPVS_TIMEOUT) {
      throw new TypeError(`Invalid IPVS ${name} timeout: ${value} (whole seconds, 0 to ${MAX_IPVS_TIMEOUT})`);
    }
  }
}

const timeoutLine = /^Timeout \(tcp tcpfin udp\): (\d+) (\d+) (\d+)\s*$/m;

/**
 * Parses `ipvsadm -L --timeout` output.
 *
 * @param text the output
 * @returns the timeouts
 * @throws {IpvsParseError} when it has no timeout line
 * @example parseIpvsTimeouts('Timeout (tcp tcpfin udp): 900 120 300\n') // { tcp: 900, tcpFin: 120, udp: 300 }
 */
export function parseIpvsTimeouts(text: string): IpvsTimeouts {
  const m = timeoutLine.exec(text);
  if (m === null) throw new IpvsParseError(`Cannot parse ipvsadm timeouts: ${JSON.stringify(text.trim())}`);
  return { tcp: Number(m[1]), tcpFin: Number(m[2]), udp: Number(m[3]) };
}

/** `TCP/198.18.0.1:80`: a stable key for a virtual server. */
export function virtualServerKey(id: IpvsServiceId): string {
  return `${id.protocol}/${hostPort(id.address, id.port)}`;
}

/** `198.18.0.1:80` or `[fd00::1]:80`. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

const protocolOption: Record<IpvsProtocol, string> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };

function serviceArgs(id: IpvsServiceId): string[] {
  return [protocolOption[id.protocol], hostPort(id.address, id.port)];
}

function serviceOptions(service: IpvsVirtualServer): string[] {
  const args = ['-s', service.scheduler];
  if (service.flags.length > 0) args.push('-b', service.flags.join(','));
  if (service.persistentTimeout !== undefined) args.push('-p', String(service.persistentTimeout));
  return args;
}

/**
 * Renders one command as an `ipvsadm` argument list (also a line of `ipvsadm -R` input).
 *
 * @param command the change
 * @returns the arguments
 * @example ipvsadmArgs({ op: 'delete-service', service: { protocol: 'TCP', address: '198.18.0.1', port: 80 } })
 * // => ['-D', '-t', '198.18.0.1:80']
 */
export function ipvsadmArgs(command: IpvsCommand): string[] {
  switch (command.op) {
    case 'add-service':
      return ['-A', ...serviceArgs(command.service), ...serviceOptions(command.service)];
    case 'edit-service':
      return ['-E', ...serviceArgs(command.service), ...serviceOptions(command.service)];
    case 'delete-service':
      return ['-D', ...serviceArgs(command.service)];
    case 'add-server':
    case 'edit-server': {
      const { server } = command;
      const op = command.op === 'add-server' ? '-a' : '-e';
      return [
        op,
        ...serviceArgs(command.service),
        '-r',
        hostPort(server.address, server.port),
        '-m',
        '-w',
        String(server.weight),
      ];
    }
    case 'delete-server':
      return [
        '-d',
        ...serviceArgs(command.service),
        '-r',
        hostPort(command.server.address, command.server.port),
      ];
    default: {
      const never: never = command;
      throw new TypeError(`Unknown IPVS command: ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Renders commands as `ipvsadm -R` input.
 *
 * @param commands the changes
 * @returns one line per command
 * @example renderIpvsRestore([{ op: 'add-service', service }]) // => '-A -t 198.18.0.1:80 -s rr\n'
 */
export function renderIpvsRestore(commands: readonly IpvsCommand[]): string {
  return commands.map((c) => `${ipvsadmArgs(c).join(' ')}\n`).join('');
}

/** The output of `ipvsadm -Ln` could not be read. */
export class IpvsParseError extends KproxyError {
  override readonly name = 'IpvsParseError';
  override readonly code = 'KPROXY_IPVS_PARSE';
}

const serviceLine = /^(TCP|UDP|SCTP)\s+(\S+)\s+(\S+)(.*)$/;
const serverLine = /^\s+->\s+(\S+)\s+(Masq|Route|Tunnel|Local)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/;

/**
 * Parses `ipvsadm -Ln --exact` output.
 *
 * @param text the listing
 * @returns the virtual servers with their real servers
 * @throws {IpvsParseError} on a line it does not understand
 * @example parseIpvsList('TCP  198.18.0.1:80 rr persistent 60\n  -> 198.18.1.2:80 Masq 1 0 0\n')
 */
export function parseIpvsList(text: string): ListedVirtualServer[] {
  const services: { service: IpvsVirtualServer; realServers: ListedRealServer[] }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('IP Virtual Server') || line.startsWith('Prot ')) continue;
    if (/^\s+-> RemoteAddress/.test(line)) continue;
    const vs = serviceLine.exec(line);
    if (vs !== null) {
      const [address, port] = splitHostPort(vs[2]!, line);
      services.push({
        service: {
          protocol: vs[1] as IpvsProtocol,
          address,
          port,
          ...parseServiceOptions(vs[3]!, vs[4]!, line),
        },
        realServers: [],
      });
      continue;
    }
    const rs = serverLine.exec(line);
    const current = services.at(-1);
    if (rs !== null && current !== undefined) {
      const [address, port] = splitHostPort(rs[1]!, line);
      current.realServers.push({
        address,
        port,
        forward: rs[2] as ListedRealServer['forward'],
        weight: Number(rs[3]),
        activeConnections: Number(rs[4]),
        inactiveConnections: Number(rs[5]),
      });
      continue;
    }
    throw new IpvsParseError(`Cannot parse ipvsadm output: ${JSON.stringify(line)}`);
  }
  return services.map(({ service, realServers }) => ({ ...service, realServers }));
}

function parseServiceOptions(scheduler: string, rest: string, line: string) {
  let flags: IpvsSchedulerFlag[] = [];
  let persistentTimeout: number | undefined;
  const tokens = rest.trim().split(/\s+/).filter(Boolean);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.startsWith('(') && token.endsWith(')')) {
      flags = token.slice(1, -1).split(',').filter(Boolean).sort() as IpvsSchedulerFlag[];
    } else if (token === 'persistent') {
      persistentTimeout = Number(tokens[++i]);
    } else if (token === 'mask' || token === 'pe') {
      i++; // options kproxy never sets; a table that has them differs from the plan anyway
    } else if (token !== 'ops') {
      throw new IpvsParseError(`Cannot parse ipvsadm service options: ${JSON.stringify(line)}`);
    }
  }
  return { scheduler, flags, persistentTimeout };
}

function splitHostPort(text: string, line: string): [string, number] {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([0-9.]+):(\d+)$/.exec(text);
  if (m === null) throw new IpvsParseError(`Cannot parse address in ipvsadm output: ${JSON.stringify(line)}`);
  return [m[1]!.toLowerCase(), Number(m[2])];
}

/**
 * The real IPVS seam, over `ipvsadm`.
 *
 * @param exec where to run (a namespaced exec in tests)
 * @returns the seam
 * @example const ipvs = createIpvs(createExec({ netns: 'kpt-node-1' }))
 */
export function createIpvs(exec: Exec): Ipvs {
  return {
    async list() {
      const { stdout } = await mustExec(exec, 'ipvsadm', ['-L', '-n', '--exact']);
      return parseIpvsList(stdout);
    },
    async listService(id) {
      const result = await exec('ipvsadm', ['-L', '-n', '--exact', ...serviceArgs(id)]);
      if (result.code !== 0) {
        // ipvsadm says "No such service" (exit 1 or 255, depending on the version) for a missing one.
        if (/no such service/i.test(result.stderr)) return undefined;
        throw new KernelError('ipvsadm -L', result.code, result.stderr || 'failed');
      }
      const [listed] = parseIpvsList(result.stdout);
      return listed;
    },
    async apply(commands) {
      if (commands.length === 0) return { bytes: 0, lines: 0 };
      const input = renderIpvsRestore(commands);
      const result = await exec('ipvsadm', ['-R'], { input });
      // ipvsadm -R goes on after a failed line and still exits 0: its stderr is the only sign.
      if (result.code !== 0 || result.stderr.trim() !== '') {
        throw new KernelError('ipvsadm -R', result.code, result.stderr || 'failed');
      }
      return { bytes: Buffer.byteLength(input), lines: commands.length };
    },
    async flush() {
      await mustExec(exec, 'ipvsadm', ['-C']);
    },
    async setTimeouts(timeouts) {
      checkIpvsTimeouts(timeouts);
      const { tcp, tcpFin, udp } = timeouts;
      await mustExec(exec, 'ipvsadm', ['--set', String(tcp), String(tcpFin), String(udp)]);
    },
    async timeouts() {
      const { stdout } = await mustExec(exec, 'ipvsadm', ['-L', '--timeout']);
      return parseIpvsTimeouts(stdout);
    },
  };
}
