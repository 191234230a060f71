/**
 * A strict in-memory IPVS that answers `ipvsadm` as the real tool does (including `ipvsadm -R`, which
 * reports failed lines on stderr and still exits 0), so that the IPVS seam and the proxier above it are
 * tested without a kernel. Rejects what the kernel rejects: a duplicate or missing service, a real server
 * on a missing service, an unknown scheduler, a non-masquerading real server.
 *
 * @module
 */
import type { ExecResult } from '../exec.ts';
import {
  hostPort,
  IPVS_SCHEDULERS,
  type IpvsProtocol,
  type IpvsSchedulerFlag,
  type IpvsVirtualServer,
  type ListedRealServer,
  type ListedVirtualServer,
  virtualServerKey,
} from '../ipvs.ts';

interface FakeService {
  service: IpvsVirtualServer;
  servers: Map<string, ListedRealServer>;
}

class IpvsadmError extends Error {}

const schedulerFlags: readonly string[] = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'];

/** The fake kernel table; {@link FakeIpvs.ipvsadm} is its `ipvsadm`. */
export class FakeIpvs {
  readonly #services = new Map<string, FakeService>();
  /** Every ipvsadm invocation, as argument lists (restore lines are not split out). */
  readonly calls: string[][] = [];
  /** The connection timeouts in seconds (tcp, tcpfin, udp), starting at the kernel's defaults. */
  timeouts: { tcp: number; tcpFin: number; udp: number } = { tcp: 900, tcpFin: 120, udp: 300 };

  /** The table, sorted by key, as {@link ListedVirtualServer}s. */
  table(): ListedVirtualServer[] {
    return [...this.#services.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, s]) => ({ ...s.service, realServers: [...s.servers.values()] }));
  }

  /**
   * Sets a real server's connection counters, as traffic would.
   *
   * @param serviceKey e.g. `TCP/198.18.0.1:80`
   * @param server e.g. `198.18.1.2:8080`
   * @param active active connections
   * @param inactive inactive connections
   */
  setConnections(serviceKey: string, server: string, active: number, inactive = 0): void {
    const rs = this.#services.get(serviceKey)?.servers.get(server);
    if (rs === undefined) throw new Error(`No real server ${server} in ${serviceKey}`);
    this.#services
      .get(serviceKey)!
      .servers.set(server, { ...rs, activeConnections: active, inactiveConnections: inactive });
  }

  /**
   * Runs `ipvsadm ARGS` against the table.
   *
   * @param args the arguments
   * @param input standard input (for `-R`)
   * @returns what ipvsadm would return
   */
  ipvsadm(args: readonly string[], input = ''): ExecResult {
    this.calls.push([...args]);
    if (args[0] === '-R') {
      const errors: string[] = [];
      for (const line of input.split('\n')) {
        if (line.trim() === '') continue;
        try {
          this.#run(line.trim().split(/\s+/));
        } catch (error) {
          if (!(error instanceof IpvsadmError)) throw error;
          errors.push(error.message);
        }
      }
      return { code: 0, stdout: '', stderr: errors.map((e) => `${e}\n`).join('') };
    }
    if (args[0] === '--set') return this.#setTimeouts(args.slice(1));
    if ((args[0] === '-L' || args[0] === '-l') && args.includes('--timeout')) {
      const { tcp, tcpFin, udp } = this.timeouts;
      return { code: 0, stdout: `Timeout (tcp tcpfin udp): ${tcp} ${tcpFin} ${udp}\n`, stderr: '' };
    }
    if (args[0] === '-L' || args[0] === '-l') {
      const { service } = parseOptions(args.slice(1).filter((a) => a !== '-n' && a !== '--exact'));
      if (service === undefined) return { code: 0, stdout: this.#list(), stderr: '' };
      // As ipvsadm: one service's listing, or "No such service" (exit 1) when it does not exist.
      if (!this.#services.has(virtualServerKey(service)))
        return { code: 1, stdout: '', stderr: 'Memory allocation problem\nNo such service\n' };
      return { code: 0, stdout: this.#list(virtualServerKey(service)), stderr: '' };
    }
    try {
      this.#run(args);
      return { code: 0, stdout: '', stderr: '' };
    } catch (error) {
      if (!(error instanceof IpvsadmError)) throw error;
      return { code: 255, stdout: '', stderr: `${error.message}\n` };
    }
  }

  /** `ipvsadm --set TCP TCPFIN UDP`: as the kernel, 0 keeps a timeout; a negative or huge one is refused. */
  #setTimeouts(values: readonly string[]): ExecResult {
    const seconds = values.map((v) => (/^\d+$/.test(v) ? Number(v) : Number.NaN));
    if (values.length !== 3 || seconds.some((n) => Number.isNaN(n) || n > 2_147_483)) {
      return { code: 2, stdout: '', stderr: `Illegal timeout value: ${values.join(' ')}\n` };
    }
    const [tcp, tcpFin, udp] = seconds as [number, number, number];
    this.timeouts = {
      tcp: tcp === 0 ? this.timeouts.tcp : tcp,
      tcpFin: tcpFin === 0 ? this.timeouts.tcpFin : tcpFin,
      udp: udp === 0 ? this.timeouts.udp : udp,
    };
    return { code: 0, stdout: '', stderr: '' };
  }

  #list(only?: string): string {
    const lines = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    ];
    for (const s of this.table()) {
      if (only !== undefined && virtualServerKey(s) !== only) continue;
      let line = `${s.protocol.padEnd(4)} ${hostPort(s.address, s.port)} ${s.scheduler}`;
      if (s.flags.length > 0) line += ` (${s.flags.join(',')})`;
      if (s.persistentTimeout !== undefined) line += ` persistent ${s.persistentTimeout}`;
      lines.push(line);
      for (const r of s.realServers) {
        lines.push(
          `  -> ${hostPort(r.address, r.port).padEnd(28)} ${r.forward.padEnd(7)} ${String(r.weight).padEnd(6)} ${String(r.activeConnections).padEnd(10)} ${r.inactiveConnections}`,
        );
      }
    }
    return `${lines.join('\n')}\n`;
  }

  #run(args: readonly string[]): void {
    const op = args[0];
    const opts = parseOptions(args.slice(1));
    if (op === '-C') {
      this.#services.clear();
      return;
    }
    const id = opts.service;
    if (id === undefined) throw new IpvsadmError('Missing service address');
    const key = virtualServerKey(id);
    const existing = this.#services.get(key);
    switch (op) {
      case '-A':
      case '-E': {
        if (op === '-A' && existing !== undefined) throw new IpvsadmError('Service already exists');
        if (op === '-E' && existing === undefined) throw new IpvsadmError('No such service');
        const scheduler = opts.scheduler ?? 'wlc';
        if (!(IPVS_SCHEDULERS as readonly string[]).includes(scheduler)) {
          throw new IpvsadmError('Scheduler not found: ip_vs_' + scheduler + '.ko');
        }
        const service: IpvsVirtualServer = {
          ...id,
          scheduler,
          flags: opts.flags,
          persistentTimeout: opts.persistent,
        };
        this.#services.set(key, { service, servers: existing?.servers ?? new Map() });
        return;
      }
      case '-D':
        if (existing === undefined) throw new IpvsadmError('No such service');
        this.#services.delete(key);
        return;
      case '-a':
      case '-e':
      case '-d': {
        if (existing === undefined) throw new IpvsadmError('Service not defined');
        const rs = opts.server;
        if (rs === undefined) throw new IpvsadmError('Missing real server address');
        const rsKey = hostPort(rs.address, rs.port);
        const current = existing.servers.get(rsKey);
        if (op === '-d') {
          if (current === undefined) throw new IpvsadmError('No such destination');
          existing.servers.delete(rsKey);
          return;
        }
        if (!opts.masquerading) throw new IpvsadmError('kproxy fake: only masquerading (-m) is modelled');
        if (op === '-a' && current !== undefined) throw new IpvsadmError('Destination already exists');
        if (op === '-e' && current === undefined) throw new IpvsadmError('No such destination');
        existing.servers.set(rsKey, {
          address: rs.address,
          port: rs.port,
          weight: opts.weight ?? 1,
          forward: 'Masq',
          activeConnections: current?.activeConnections ?? 0,
          inactiveConnections: current?.inactiveConnections ?? 0,
        });
        return;
      }
      default:
        throw new IpvsadmError(`kproxy fake: unsupported ipvsadm operation ${String(op)}`);
    }
  }
}

interface Options {
  service?: { protocol: IpvsProtocol; address: string; port: number };
  server?: { address: string; port: number };
  scheduler?: string;
  flags: IpvsSchedulerFlag[];
  persistent?: number;
  weight?: number;
  masquerading: boolean;
}

function parseOptions(args: readonly string[]): Options {
  const opts: Options = { flags: [], masquerading: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = () => {
      const value = args[++i];
      if (value === undefined) throw new IpvsadmError(`Option ${arg} needs a value`);
      return value;
    };
    switch (arg) {
      case '-t':
      case '-u':
      case '--sctp-service': {
        const protocol: IpvsProtocol = arg === '-t' ? 'TCP' : arg === '-u' ? 'UDP' : 'SCTP';
        opts.service = { protocol, ...parseHostPort(next()) };
        break;
      }
      case '-r':
        opts.server = parseHostPort(next());
        break;
      case '-s':
        opts.scheduler = next();
        break;
      case '-b':
        opts.flags = next()
          .split(',')
          .map((f) => {
            if (!schedulerFlags.includes(f)) throw new IpvsadmError(`Invalid scheduler flag: ${f}`);
            return f as IpvsSchedulerFlag;
          })
          .sort();
        break;
      case '-p':
        opts.persistent = Number(next());
        break;
      case '-w':
        opts.weight = Number(next());
        if (!Number.isInteger(opts.weight) || opts.weight < 0)
          throw new IpvsadmError('Illegal weight specified');
        break;
      case '-m':
        opts.masquerading = true;
        break;
      case '-n':
      case '--exact':
        break;
      default:
        throw new IpvsadmError(`kproxy fake: unsupported ipvsadm option ${arg}`);
    }
  }
  return opts;
}

function parseHostPort(text: string): { address: string; port: number } {
  const m = /^\[([0-9a-fA-F:]+)\]:(\d+)$/.exec(text) ?? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(text);
  if (m === null) throw new IpvsadmError(`Illegal address: ${text}`);
  return { address: m[1]!.toLowerCase(), port: Number(m[2]) };
}
