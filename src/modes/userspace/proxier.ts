/**
 * The userspace Proxier: keeps relay listeners (and, with root and iptables, the portal rules that send
 * VIPs to them) in line with the proxy state.
 *
 * Two ways to reach a listener:
 * - **portals** (root and iptables usable): one listener per service port and role on `0.0.0.0:<proxy
 *   port>` and nat rules that send each VIP:port there (see plan.ts);
 * - **direct**: a listener bound to each VIP:port that is a local address (127.0.0.0/8 and ::1 always, or an
 *   address of this host), and node ports on `0.0.0.0`; any other VIP is reported once as not reachable in
 *   this setup. IPv6 VIPs always take this path (the portal rules are IPv4).
 *
 * On every sync: balancers get the new endpoints (removed endpoints get no new connections; relayed
 * connections are never touched), new listeners open, the rules are rewritten when they changed, then
 * listeners that are no longer wanted close (so no rule ever points at a closed port). A listener that
 * cannot open is logged and retried on the next sync; nothing in a state can crash the relay.
 *
 * @module
 */
import { BlockList, isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import type { ProxyState, ServicePortKey, StateChange } from '../../model/types.ts';
import { type Clock, systemClock } from '../../runner/clock.ts';
import type { Proxier, ProxierDeps, SyncOptions, SyncReport } from '../mode.ts';
import { Balancer, toBackends } from './balancer.ts';
import { hostAddresses, isLocalAddress } from './local_addresses.ts';
import { type ListenerRole, type PlannedServicePort, planUserspace, type UserspacePlan } from './plan.ts';
import { PortalRules } from './portal_rules.ts';
import { renderPortalRestore } from './render.ts';
import { TcpRelay } from './tcp_relay.ts';
import { UdpRelay } from './udp_relay.ts';

/** Extra knobs of the userspace Proxier (the daemon uses the defaults; tests inject). */
export interface UserspaceProxierOptions {
  /** `auto` (default): portals when running as root and iptables is usable; `on`/`off` force it. */
  readonly portals?: 'auto' | 'on' | 'off' | undefined;
  /** The host's addresses (default: from the interfaces, read at every sync). */
  readonly localAddresses?: (() => readonly string[]) | undefined;
  /** Whether the process is root (default: uid 0). */
  readonly isRoot?: (() => boolean) | undefined;
  readonly clock?: Clock | undefined;
  /** Per-attempt connect timeouts (default 250, 500, 1000, 2000 ms). */
  readonly connectTimeoutsMs?: readonly number[] | undefined;
}

/** What the relay is doing, for tests, metrics and the lab driver. */
export interface UserspaceStats {
  readonly portals: boolean | undefined;
  readonly listeners: readonly { readonly id: string; readonly host: string; readonly port: number }[];
  readonly tcp: {
    readonly accepted: number;
    readonly relayed: number;
    readonly failed: number;
    readonly failedAttempts: number;
    readonly active: number;
    readonly bufferedBytes: number;
  };
  readonly udp: { readonly flows: number; readonly flowsOpened: number; readonly flowsIdledOut: number };
}

interface ListenerSpec {
  /** Unique per socket: `proxy|<listener id>` or `direct|<listener id>|<host>:<port>`. */
  readonly id: string;
  readonly listenerId: string;
  readonly role: ListenerRole;
  readonly host: string;
  /** 0 = allocate (a proxy port). */
  readonly port: number;
  readonly proxy: boolean;
}

interface OpenListener {
  readonly spec: ListenerSpec;
  readonly relay: TcpRelay | UdpRelay;
  readonly port: number;
}

interface ServicePortRuntime {
  readonly key: ServicePortKey;
  readonly balancers: Record<ListenerRole, Balancer>;
  readonly listeners: Map<string, OpenListener>;
}

/**
 * Creates the userspace Proxier.
 *
 * @param deps the daemon's dependencies (plan options, exec seam, logger, iptables backend)
 * @param options portal policy and test hooks
 * @returns the Proxier (also exposing {@link UserspaceProxier.stats})
 * @example const proxier = createUserspaceProxier(deps, { portals: 'off' });
 */
export function createUserspaceProxier(
  deps: ProxierDeps,
  options: UserspaceProxierOptions = {},
): UserspaceProxier {
  return new UserspaceProxier(deps, options);
}

/** See the module documentation. */
export class UserspaceProxier implements Proxier {
  readonly #deps: ProxierDeps;
  readonly #options: UserspaceProxierOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #rules: PortalRules;
  readonly #runtimes = new Map<ServicePortKey, ServicePortRuntime>();
  /** Messages already logged, so that a persisting problem is reported once. */
  readonly #reported = new Set<string>();
  /** Sockets closed with the service (and their connections, still relaying). */
  readonly #retired: OpenListener[] = [];
  #portals: boolean | undefined;
  #appliedRules: string | undefined;
  #stopped = false;

  constructor(deps: ProxierDeps, options: UserspaceProxierOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#log = deps.logger;
    this.#clock = options.clock ?? systemClock;
    this.#rules = new PortalRules(deps.exec, deps.iptablesBackend);
  }

  async sync(state: ProxyState, change: StateChange, syncOptions?: SyncOptions): Promise<SyncReport> {
    if (this.#stopped) throw new Error('Cannot sync: the userspace proxier is stopped');
    const first = this.#portals === undefined;
    if (this.#portals === undefined) this.#portals = await this.#decidePortals();
    const portals = this.#portals;
    const local = new Set((this.#options.localAddresses ?? hostAddresses)());
    const shape = planUserspace(state, this.#deps.options, new Map());
    for (const s of shape.skipped) this.#reportOnce('warn', `${s.key}: not served: ${s.reason}`);

    let written = 0;
    const stale: OpenListener[] = [];
    for (const sp of shape.servicePorts) {
      const runtime = this.#runtime(sp.key);
      const affinity = sp.state.sessionAffinity;
      runtime.balancers.internal.update(toBackends(sp.state.internalEndpoints), affinity);
      runtime.balancers.external.update(toBackends(sp.state.externalEndpoints), affinity);
      const specs = this.#specs(sp, portals, local);
      const wanted = new Set(specs.map((s) => s.id));
      let changed = false;
      for (const [id, open] of runtime.listeners) {
        if (wanted.has(id)) continue;
        runtime.listeners.delete(id);
        stale.push(open);
        changed = true;
      }
      for (const spec of specs) {
        if (runtime.listeners.has(spec.id)) continue;
        const open = await this.#open(sp, spec, runtime);
        if (open !== undefined) {
          runtime.listeners.set(spec.id, open);
          changed = true;
        }
      }
      if (changed || change.changed.has(sp.key)) written++;
    }
    for (const [key, runtime] of this.#runtimes) {
      if (state.servicePorts.has(key) && !shape.skipped.some((s) => s.key === key)) continue;
      stale.push(...runtime.listeners.values());
      this.#runtimes.delete(key);
      written++;
    }

    let restoreBytes = 0;
    let restoreLines = 0;
    if (portals) {
      const plan = this.#plan(state);
      const text = renderPortalRestore(plan);
      if (text !== this.#appliedRules || syncOptions?.full === true) {
        const applied = await this.#rules.apply(plan);
        this.#appliedRules = text;
        restoreBytes = applied.bytes;
        restoreLines = applied.lines;
      }
    }
    // Only now that no rule points at them: stop accepting on listeners no longer wanted.
    for (const open of stale) await this.#close(open);
    for (const runtime of this.#runtimes.values()) {
      runtime.balancers.internal.sweep();
      runtime.balancers.external.sweep();
    }
    return {
      kind: first || syncOptions?.full === true ? 'full' : 'partial',
      servicePortsWritten: written,
      restoreBytes,
      restoreLines,
    };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const all = [...this.#retired];
    for (const runtime of this.#runtimes.values()) all.push(...runtime.listeners.values());
    this.#runtimes.clear();
    for (const open of all) {
      await open.relay.close();
      if (open.relay instanceof TcpRelay) open.relay.destroyConnections();
    }
  }

  /** A snapshot of what the relay is doing. */
  stats(): UserspaceStats {
    const listeners: { id: string; host: string; port: number }[] = [];
    const tcp = { accepted: 0, relayed: 0, failed: 0, failedAttempts: 0, active: 0, bufferedBytes: 0 };
    const udp = { flows: 0, flowsOpened: 0, flowsIdledOut: 0 };
    const all: OpenListener[] = [...this.#retired];
    for (const runtime of this.#runtimes.values()) {
      for (const open of runtime.listeners.values()) {
        listeners.push({ id: open.spec.id, host: open.spec.host, port: open.port });
        all.push(open);
      }
    }
    for (const { relay } of all) {
      if (relay instanceof TcpRelay) {
        tcp.accepted += relay.counters.accepted;
        tcp.relayed += relay.counters.relayed;
        tcp.failed += relay.counters.failed;
        tcp.failedAttempts += relay.counters.failedAttempts;
        tcp.active += relay.activeConnections;
        tcp.bufferedBytes += relay.bufferedBytes;
      } else {
        udp.flows += relay.flows.size;
        udp.flowsOpened += relay.counters.flowsOpened;
        udp.flowsIdledOut += relay.counters.flowsIdledOut;
      }
    }
    return { portals: this.#portals, listeners, tcp, udp };
  }

  /** The plan with the proxy ports actually bound (what the rules must say). */
  #plan(state: ProxyState): UserspacePlan {
    const ports = new Map<string, number>();
    for (const runtime of this.#runtimes.values()) {
      for (const open of runtime.listeners.values())
        if (open.spec.proxy) ports.set(open.spec.listenerId, open.port);
    }
    return planUserspace(state, this.#deps.options, ports);
  }

  async #decidePortals(): Promise<boolean> {
    const policy = this.#options.portals ?? 'auto';
    if (policy !== 'auto') return policy === 'on';
    const root = (this.#options.isRoot ?? (() => process.getuid?.() === 0))();
    const usable = root && (await this.#rules.usable());
    this.#log.info(
      { portals: usable },
      usable
        ? 'Userspace mode: installing portal rules (iptables nat) that send VIPs to the relay'
        : 'Userspace mode: no root or no iptables: serving local VIPs by listening on them directly',
    );
    return usable;
  }

  #runtime(key: ServicePortKey): ServicePortRuntime {
    let runtime = this.#runtimes.get(key);
    if (runtime === undefined) {
      runtime = {
        key,
        balancers: { internal: new Balancer(this.#clock), external: new Balancer(this.#clock) },
        listeners: new Map(),
      };
      this.#runtimes.set(key, runtime);
    }
    return runtime;
  }

  #specs(sp: PlannedServicePort, portals: boolean, local: ReadonlySet<string>): ListenerSpec[] {
    const specs: ListenerSpec[] = [];
    const nodePortCIDRs = new BlockList();
    const restricted = this.#deps.options.nodePortAddresses.filter((c) => isIPv4(c.split('/')[0] ?? ''));
    for (const cidr of restricted) {
      const [net, bits] = cidr.split('/');
      nodePortCIDRs.addSubnet(net ?? '', Number(bits ?? 32), 'ipv4');
    }
    for (const l of sp.listeners) {
      const base = { listenerId: l.id, role: l.role };
      if (portals && l.portals.some((p) => p.family === 'IPv4')) {
        specs.push({ ...base, id: `proxy|${l.id}`, host: '0.0.0.0', port: 0, proxy: true });
      }
      for (const p of l.portals) {
        if (portals && p.family === 'IPv4') continue;
        if (p.ip === undefined) {
          // A node port without portal rules: listen on the node's addresses.
          const hosts =
            restricted.length === 0
              ? ['0.0.0.0']
              : [...local].filter((a) => isIPv4(a) && nodePortCIDRs.check(a, 'ipv4')).sort();
          for (const host of hosts) {
            specs.push({ ...base, id: `direct|${l.id}|${host}:${p.port}`, host, port: p.port, proxy: false });
          }
          continue;
        }
        if (isLocalAddress(p.ip, local)) {
          specs.push({
            ...base,
            id: `direct|${l.id}|${p.ip}:${p.port}`,
            host: p.ip,
            port: p.port,
            proxy: false,
          });
        } else {
          this.#reportOnce(
            'warn',
            `${sp.key}: ${p.kind} ${p.ip}:${p.port} is not reachable in this setup: it is not a local address and ` +
              `no portal rules are installed (${portals ? 'IPv6 VIPs have none' : 'needs root and iptables'})`,
          );
        }
      }
    }
    return specs;
  }

  async #open(
    sp: PlannedServicePort,
    spec: ListenerSpec,
    runtime: ServicePortRuntime,
  ): Promise<OpenListener | undefined> {
    const balancer = runtime.balancers[spec.role];
    const family = spec.host.includes(':') ? 6 : 4;
    const make = (): TcpRelay | UdpRelay =>
      sp.protocol === 'TCP'
        ? new TcpRelay(balancer, { connectTimeoutsMs: this.#options.connectTimeoutsMs })
        : new UdpRelay(balancer, family === 6 ? 'udp6' : 'udp4', {
            idleTimeoutMs: this.#deps.options.udpIdleTimeoutMs,
            clock: this.#clock,
          });
    const candidates = spec.proxy ? this.#proxyPortCandidates(sp) : [spec.port];
    let lastError: unknown;
    for (const port of candidates) {
      const relay = make();
      try {
        const bound = await relay.listen(spec.host, port);
        this.#log.info(
          { servicePort: sp.key, role: spec.role, address: `${spec.host}:${bound}`, proxy: spec.proxy },
          `Serving ${sp.key} on ${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${bound}`,
        );
        this.#reported.delete(`listen ${spec.id}`);
        return { spec, relay, port: bound };
      } catch (error) {
        lastError = error;
        await relay.close();
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !spec.proxy) break;
      }
    }
    const code = (lastError as NodeJS.ErrnoException | undefined)?.code ?? String(lastError);
    this.#reportOnce(
      'error',
      `${sp.key}: cannot listen on ${spec.host}:${spec.port === 0 ? 'a proxy port' : spec.port}: ${code} (retried at the next sync)`,
      `listen ${spec.id}`,
    );
    return undefined;
  }

  /** Ports to try for a proxy listener: 0 (any) without a range; else the range's ports not ours, lowest first. */
  #proxyPortCandidates(sp: PlannedServicePort): number[] {
    const range = this.#deps.options.proxyPortRange;
    if (range === undefined) return [0];
    const used = new Set<number>();
    for (const runtime of this.#runtimes.values()) {
      if (!runtime.key.endsWith(`/${sp.protocol}`)) continue;
      for (const open of runtime.listeners.values()) if (open.spec.proxy) used.add(open.port);
    }
    const out: number[] = [];
    for (let port = range.from; port <= range.to; port++) if (!used.has(port)) out.push(port);
    return out;
  }

  async #close(open: OpenListener): Promise<void> {
    await open.relay.close();
    this.#log.info(
      { address: `${open.spec.host}:${open.port}` },
      `Stopped listening on ${open.spec.host}:${open.port}`,
    );
    // TCP connections already relayed keep going; remember the relay until they end, for stats and stop().
    if (open.relay instanceof TcpRelay && open.relay.activeConnections > 0) this.#retired.push(open);
    for (let i = this.#retired.length - 1; i >= 0; i--) {
      const r = this.#retired[i]!;
      if (r.relay instanceof TcpRelay && r.relay.activeConnections === 0) this.#retired.splice(i, 1);
    }
  }

  #reportOnce(level: 'warn' | 'error', message: string, key = message): void {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#log[level](message);
  }
}
