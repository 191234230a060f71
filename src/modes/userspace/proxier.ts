/**
 * The userspace Proxier: keeps relay listeners (and, with root and iptables, the portal rules that send
 * VIPs to them) in line with the proxy state. It plans once per sync (plan.ts decides the sockets, the
 * portals not reachable, the rules and, with conntrack.ts, the stale UDP flows), then only diffs the
 * planned sockets against those it runs, binds, applies and deletes.
 *
 * One Proxier serves one IP family (`deps.options.ipFamily`, IPv4 when undefined; the daemon runs one per
 * family, see dual_stack.ts): its portals, its sockets, its rules (iptables, or ip6tables for IPv6) and its
 * conntrack entries are of that family alone. Two ways to reach a listener:
 * - **portals** (root and iptables, or ip6tables, usable): one listener per service port and role on
 *   `0.0.0.0:<proxy port>` (IPv6: `[::]`, bound IPv6-only so that it never takes the IPv4 Proxier's port)
 *   and nat rules that send each VIP:port there (see plan.ts);
 * - **direct**: a listener bound to each VIP:port that is a local address (127.0.0.0/8 and ::1 always, or an
 *   address of this host), and node ports on `0.0.0.0` (`::`); any other VIP is reported once as not
 *   reachable in this setup.
 *
 * On every sync: balancers get the new endpoints (removed endpoints get no new connections; relayed
 * connections are never touched), new listeners open, the rules are rewritten when they changed, then
 * listeners that are no longer wanted close (so no rule ever points at a closed port). A listener that
 * cannot open is logged and retried on the next sync; nothing in a state can crash the relay.
 *
 * Which way: `PlanOptions.userspacePortals` (`--userspace-portals`), overridden by
 * {@link UserspaceProxierOptions.portals}: `on`, `off`, or `auto` (portals when root and iptables is usable).
 *
 * Metrics: each service port's {@link RelayPortMetrics} handle is fetched once, when its first listener
 * opens, and shared by its listeners; once the service port is gone, it is forgotten at the first sync
 * (or the periodic resync) after its last relayed connection has ended, so the series stop being exported
 * (once neither family's Proxier relays it: see shared_relay_metrics.ts).
 *
 * Stopping ({@link UserspaceProxier.stop}, on SIGTERM/SIGINT): every listener closes at once (no new
 * connection is accepted; UDP flows close) and connections already relayed may finish for up to
 * {@link UserspaceProxierOptions.drainTimeoutMs} (10 s by default) and are then closed. The portal rules
 * stay, as kube-proxy leaves its rules in every mode (`kproxy cleanup` removes them): a stop is nearly
 * always a restart (a rollout, a `--config` change, a crash loop), and with the rules in place a client that
 * connects meanwhile is held, not refused: KUBE-PORTALS-GUARD drops the first packet of a connection to a
 * proxy port nobody listens on, the client retransmits its SYN (1 s, then 3 s later) and the restarted
 * relay, listening again, takes it (see portal_chains.ts). Removing the rules would instead leave the VIP
 * unclaimed (unreachable) during the restart. `removeRulesOnStop` removes them after the drain.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { SyncOptions, SyncReport } from '../../contracts/sync.ts';
import type { Conntrack } from '../../kernel/conntrack.ts';
import { type ConntrackTable, createConntrackTable } from '../../kernel/conntrack_table.ts';
import { NOOP_RELAY_METRICS, type RelayMetrics, type RelayPortMetrics } from '../../metrics/relay_metrics.ts';
import type { IPFamily, ProxyState, ServicePortKey, StateChange } from '../../model/types.ts';
import { type Clock, systemClock, type Timer } from '../../runner/clock.ts';
import type { Proxier, ProxierDeps } from '../mode.ts';
import { Balancer, toBackends } from './balancer.ts';
import { conntrackForFamily, staleUdpConntrack, type UdpConntrackDeletion } from './conntrack.ts';
import { hostAddresses } from './local_addresses.ts';
import {
  bindProxyPorts,
  hostPort,
  type ListenerRole,
  type PlannedServicePort,
  type PlannedSocket,
  planUserspace,
  type UserspacePlan,
} from './plan.ts';
import { PortalRules } from './portal_rules.ts';
import { renderPortalRestore } from './render.ts';
import { heldRelayMetrics } from './shared_relay_metrics.ts';
import { staleRedirects } from './stale_redirects.ts';
import {
  resolveTcpRelayEngine,
  TcpRelay,
  type TcpRelayEngineChoice,
  type TcpRelayEngineName,
} from './tcp_relay.ts';
import { UdpRelay } from './udp_relay.ts';

/** Extra knobs of the userspace Proxier (the daemon uses the defaults; tests inject). */
export interface UserspaceProxierOptions {
  /**
   * `auto`: portals when running as root and iptables is usable; `on`/`off` force it. Default:
   * `PlanOptions.userspacePortals`, else `auto`.
   */
  readonly portals?: 'auto' | 'on' | 'off' | undefined;
  /** The host's addresses (default: from the interfaces, read at every sync). */
  readonly localAddresses?: (() => readonly string[]) | undefined;
  /** Whether the process is root (default: uid 0). */
  readonly isRoot?: (() => boolean) | undefined;
  readonly clock?: Clock | undefined;
  /** Per-attempt connect timeouts (default 250, 500, 1000, 2000 ms). */
  readonly connectTimeoutsMs?: readonly number[] | undefined;
  /**
   * How long {@link UserspaceProxier.stop} lets relayed TCP connections finish (default: the plan
   * options' `userspaceDrainTimeoutMs`, else 10 s).
   */
  readonly drainTimeoutMs?: number | undefined;
  /** How TCP is relayed (default: the plan options' `userspaceRelayEngine`, else `auto`). */
  readonly relayEngine?: TcpRelayEngineChoice | undefined;
  /** The conntrack seam (default: the `conntrack` tool through `deps.exec`, for the Proxier's family). */
  readonly conntrack?: Conntrack | undefined;
  /** The conntrack table, for healing after the portal rules were missing (default: the real tool). */
  readonly conntrackTable?: ConntrackTable | undefined;
  /** Remove the portal rules once stopped (default false: they stay for the next kproxy, see above). */
  readonly removeRulesOnStop?: boolean | undefined;
}

/** How long relayed connections may finish once the proxier stops. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/** What the relay is doing, for tests, metrics and the lab driver. */
export interface UserspaceStats {
  readonly portals: boolean | undefined;
  /** The TCP relay engine. */
  readonly relayEngine: TcpRelayEngineName;
  readonly listeners: readonly { readonly id: string; readonly host: string; readonly port: number }[];
  readonly tcp: {
    readonly accepted: number;
    readonly relayed: number;
    readonly failed: number;
    readonly failedAttempts: number;
    readonly active: number;
    readonly bufferedBytes: number;
  };
  readonly udp: {
    readonly flows: number;
    readonly flowsOpened: number;
    readonly flowsIdledOut: number;
    /** Flows moved to another backend after port-unreachable, before any reply. */
    readonly flowsRetried: number;
  };
}

interface OpenListener {
  readonly key: ServicePortKey;
  readonly socket: PlannedSocket;
  readonly relay: TcpRelay | UdpRelay;
  readonly port: number;
}

interface ServicePortRuntime {
  readonly key: ServicePortKey;
  readonly balancers: Record<ListenerRole, Balancer>;
  readonly listeners: Map<string, OpenListener>;
  /** Fetched when the first listener opens. */
  metrics: RelayPortMetrics | undefined;
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
  readonly #relayMetrics: RelayMetrics;
  /** Service ports gone whose metrics are forgotten once their last connection ended. */
  readonly #forgetting = new Set<ServicePortKey>();
  readonly #engine: TcpRelayEngineName;
  readonly #conntrack: Conntrack;
  readonly #family: IPFamily;
  #portals: boolean | undefined;
  #appliedRules: string | undefined;
  /** The plan of the last sync that completed (what the stale UDP flows are computed against). */
  #lastPlan: UserspacePlan | undefined;
  /** The plan whose portal rules the kernel holds (with the proxy ports bound), for the integrity check. */
  #appliedPlan: UserspacePlan | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #syncing: Promise<void> | undefined;

  constructor(deps: ProxierDeps, options: UserspaceProxierOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#log = deps.logger;
    this.#clock = options.clock ?? systemClock;
    this.#family = deps.options.ipFamily ?? 'IPv4';
    this.#rules = new PortalRules(deps.exec, deps.iptablesBackend, this.#family);
    this.#conntrack = options.conntrack ?? conntrackForFamily(deps.exec, this.#family);
    this.#relayMetrics = heldRelayMetrics(deps.metrics?.relay ?? NOOP_RELAY_METRICS);
    const { engine, why } = resolveTcpRelayEngine(
      options.relayEngine ?? deps.options.userspaceRelayEngine ?? 'auto',
    );
    this.#engine = engine;
    this.#log.info(
      { engine },
      engine === 'handles'
        ? "TCP relay engine: handles (Node's libuv TCP handles)"
        : `TCP relay engine: net (net.Socket)${why === undefined ? '' : `: handles unavailable: ${why}`}`,
    );
  }

  /** The TCP relay engine in use. */
  get relayEngine(): TcpRelayEngineName {
    return this.#engine;
  }

  async checkIntact(): Promise<string | undefined> {
    const plan = this.#appliedPlan;
    if (plan === undefined || this.#stopped || this.#appliedRules === undefined) return undefined;
    return this.#rules.damage(plan);
  }

  /** Deletes the conntrack entries {@link staleRedirects} picks (failures are logged: the rules are in). */
  async #healRedirects(plan: UserspacePlan): Promise<void> {
    const table = this.#options.conntrackTable ?? createConntrackTable(this.#deps.exec);
    try {
      const stale = staleRedirects(await table.list(this.#family), plan, this.#family);
      for (const t of stale) {
        if (t.replyPort === undefined) await table.deleteUnnated(t);
        else await table.deleteRedirected({ ...t, replyPort: t.replyPort });
      }
      if (stale.length > 0) {
        this.#log.info(
          { entries: stale.map((t) => `${t.protocol} ${t.ip}:${t.port} -> ${t.replyPort ?? 'no NAT'}`) },
          'Deleted connection-tracking entries that no portal, or an earlier relay, redirected',
        );
      }
    } catch (error) {
      this.#log.debug({ err: error }, 'Cannot heal connection tracking');
    }
  }

  sync(state: ProxyState, change: StateChange, syncOptions?: SyncOptions): Promise<SyncReport> {
    if (this.#stopped) return Promise.reject(new Error('Cannot sync: the userspace proxier is stopped'));
    const syncing = this.#sync(state, change, syncOptions);
    // stop() waits for a sync in progress, so that no listener opens behind its back.
    this.#syncing = syncing.then(
      () => undefined,
      () => undefined,
    );
    return syncing;
  }

  async #sync(state: ProxyState, change: StateChange, syncOptions?: SyncOptions): Promise<SyncReport> {
    const first = this.#portals === undefined;
    this.#portals ??= await this.#decidePortals();
    const plan = planUserspace(state, this.#deps.options, {
      portals: this.#portals,
      localAddresses: (this.#options.localAddresses ?? hostAddresses)(),
      proxyPorts: 'runtime',
    });
    for (const s of plan.skipped) this.#reportOnce('warn', `${s.key}: not served: ${s.reason}`);
    for (const { key, portal, reason } of plan.unreachable) {
      this.#reportOnce(
        'warn',
        `${key}: ${portal.kind} ${hostPort(portal.ip ?? '*', portal.port)} is not reachable in this setup: ${reason}`,
      );
    }

    let written = 0;
    const stale: OpenListener[] = [];
    for (const sp of plan.servicePorts) {
      const runtime = this.#runtime(sp.key);
      const affinity = sp.state.sessionAffinity;
      runtime.balancers.internal.update(toBackends(sp.state.internalEndpoints), affinity);
      runtime.balancers.external.update(toBackends(sp.state.externalEndpoints), affinity);
      const wanted = new Set(sp.sockets.map((s) => s.id));
      let changed = false;
      for (const [id, open] of runtime.listeners) {
        if (wanted.has(id)) continue;
        runtime.listeners.delete(id);
        stale.push(open);
        changed = true;
      }
      for (const socket of sp.sockets) {
        if (runtime.listeners.has(socket.id)) continue;
        const open = await this.#open(sp, socket, runtime);
        if (open !== undefined) {
          runtime.listeners.set(socket.id, open);
          changed = true;
        }
      }
      if (changed || change.changed.has(sp.key)) written++;
    }
    const planned = new Set(plan.servicePorts.map((sp) => sp.key));
    for (const [key, runtime] of this.#runtimes) {
      if (planned.has(key)) continue;
      stale.push(...runtime.listeners.values());
      this.#runtimes.delete(key);
      if (runtime.metrics !== undefined) this.#forgetting.add(key);
      written++;
    }

    let restoreBytes = 0;
    let restoreLines = 0;
    if (plan.rulesInstalled) {
      const bound = bindProxyPorts(plan, this.#boundProxyPorts());
      const text = renderPortalRestore(bound);
      // A periodic resync may be the one that repairs damage before the integrity check saw it.
      const damaged =
        syncOptions?.full === true && this.#appliedPlan !== undefined && syncOptions.repair === undefined
          ? await this.checkIntact().catch(() => undefined)
          : undefined;
      if (damaged !== undefined)
        this.#log.warn({ reason: damaged }, 'The portal rules were damaged: repairing');
      const repair = syncOptions?.repair !== undefined || damaged !== undefined;
      if (text !== this.#appliedRules || syncOptions?.full === true || repair) {
        const applied = await this.#rules.apply(bound);
        this.#appliedRules = text;
        restoreBytes = applied.bytes;
        restoreLines = applied.lines;
      }
      this.#appliedPlan = bound;
      // Connections made while the rules were missing were not redirected, and those of an earlier relay
      // were redirected to its proxy ports: either entry would catch a later connection from the same
      // client port (stale_redirects.ts).
      if (repair || first) await this.#healRedirects(bound);
    }
    // Only now that no rule points at them: stop accepting on listeners no longer wanted.
    for (const open of stale) await this.#close(open);
    await this.#deleteConntrack(staleUdpConntrack(this.#lastPlan, plan));
    this.#lastPlan = plan;
    for (const runtime of this.#runtimes.values()) {
      runtime.balancers.internal.sweep();
      runtime.balancers.external.sweep();
    }
    this.#forgetDrained();
    return {
      kind: first || syncOptions?.full === true ? 'full' : 'partial',
      servicePortsWritten: written,
      restoreBytes,
      restoreLines,
    };
  }

  /**
   * Stops gracefully (see the module documentation): stop accepting, let relayed connections finish up to
   * the drain timeout, close the rest (and remove the portal rules when told to). Calling it again returns
   * the same promise.
   *
   * @returns a promise that resolves when everything is closed (rejects only if removing the rules failed)
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    await this.#syncing;
    const all = [...this.#retired];
    this.#retired.length = 0;
    for (const runtime of this.#runtimes.values()) all.push(...runtime.listeners.values());
    const keys = new Set([...this.#runtimes.keys(), ...this.#forgetting, ...all.map((o) => o.key)]);
    this.#runtimes.clear();
    // Stop accepting everywhere at once; UDP relays close their flows with their socket.
    await Promise.all(all.map((open) => open.relay.close()));
    const tcp = all.flatMap((open) => (open.relay instanceof TcpRelay ? [open.relay] : []));
    await this.#drain(tcp);
    for (const key of keys) this.#relayMetrics.forget(key);
    this.#forgetting.clear();
    if (this.#appliedRules !== undefined && this.#options.removeRulesOnStop === true) {
      await this.#rules.cleanup();
      this.#appliedRules = undefined;
      this.#log.info('Removed the portal rules');
    }
  }

  /** Waits for relayed connections to end, up to the drain timeout; then closes those left. */
  async #drain(relays: readonly TcpRelay[]): Promise<void> {
    const open = (): number => relays.reduce((n, r) => n + r.activeConnections, 0);
    const count = open();
    if (count === 0) return;
    const timeoutMs =
      this.#options.drainTimeoutMs ?? this.#deps.options.userspaceDrainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.#log.info(
      { connections: count, timeoutMs },
      `Stopped accepting: letting ${count} relayed connection(s) finish (at most ${timeoutMs} ms)`,
    );
    let timer: Timer | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = this.#clock.setTimer(() => resolve(true), timeoutMs);
    });
    const drained = Promise.all(relays.map((r) => r.drained())).then(() => false);
    const late = await Promise.race([drained, timedOut]);
    timer?.cancel();
    if (!late) {
      this.#log.info('Every relayed connection has ended');
      return;
    }
    const left = open();
    this.#log.warn(
      { connections: left, timeoutMs },
      `Closing ${left} relayed connection(s) still open after ${timeoutMs} ms`,
    );
    for (const relay of relays) relay.destroyConnections();
    await Promise.all(relays.map((r) => r.drained()));
  }

  /** A snapshot of what the relay is doing. */
  stats(): UserspaceStats {
    const listeners: { id: string; host: string; port: number }[] = [];
    const tcp = { accepted: 0, relayed: 0, failed: 0, failedAttempts: 0, active: 0, bufferedBytes: 0 };
    const udp = { flows: 0, flowsOpened: 0, flowsIdledOut: 0, flowsRetried: 0 };
    const all: OpenListener[] = [...this.#retired];
    for (const runtime of this.#runtimes.values()) {
      for (const open of runtime.listeners.values()) {
        listeners.push({ id: open.socket.id, host: open.socket.host, port: open.port });
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
        udp.flowsRetried += relay.counters.flowsRetried;
      }
    }
    return { portals: this.#portals, relayEngine: this.#engine, listeners, tcp, udp };
  }

  /** The proxy port each listener's proxy socket is bound to (what the rules must say). */
  #boundProxyPorts(): Map<string, number> {
    const ports = new Map<string, number>();
    for (const runtime of this.#runtimes.values()) {
      for (const open of runtime.listeners.values())
        if (open.socket.proxy) ports.set(open.socket.listenerId, open.port);
    }
    return ports;
  }

  async #decidePortals(): Promise<boolean> {
    const policy = this.#options.portals ?? this.#deps.options.userspacePortals ?? 'auto';
    if (policy !== 'auto') return policy === 'on';
    const root = (this.#options.isRoot ?? (() => process.getuid?.() === 0))();
    const usable = root && (await this.#rules.usable());
    const iptables = this.#family === 'IPv6' ? 'ip6tables' : 'iptables';
    this.#log.info(
      { portals: usable },
      usable
        ? `Userspace mode: installing portal rules (${iptables} nat) that send VIPs to the relay`
        : `Userspace mode: no root or no ${iptables}: serving local VIPs by listening on them directly`,
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
        metrics: undefined,
      };
      this.#runtimes.set(key, runtime);
      this.#forgetting.delete(key);
    }
    return runtime;
  }

  async #open(
    sp: PlannedServicePort,
    socket: PlannedSocket,
    runtime: ServicePortRuntime,
  ): Promise<OpenListener | undefined> {
    const balancer = runtime.balancers[socket.role];
    const family = socket.host.includes(':') ? 6 : 4;
    runtime.metrics ??= this.#relayMetrics.servicePort(sp.key);
    const metrics = runtime.metrics;
    const make = (): TcpRelay | UdpRelay =>
      sp.protocol === 'TCP'
        ? new TcpRelay(balancer, {
            connectTimeoutsMs: this.#options.connectTimeoutsMs,
            metrics,
            engine: this.#engine,
          })
        : new UdpRelay(balancer, family === 6 ? 'udp6' : 'udp4', {
            idleTimeoutMs: this.#deps.options.udpIdleTimeoutMs,
            clock: this.#clock,
            metrics,
          });
    const candidates = socket.proxy && socket.port === 0 ? this.#proxyPortCandidates(sp) : [socket.port];
    let lastError: unknown;
    for (const port of candidates) {
      const relay = make();
      try {
        const bound = await relay.listen(socket.host, port);
        this.#log.info(
          { servicePort: sp.key, role: socket.role, address: `${socket.host}:${bound}`, proxy: socket.proxy },
          `Serving ${sp.key} on ${hostPort(socket.host, bound)}`,
        );
        this.#reported.delete(`listen ${socket.id}`);
        return { key: sp.key, socket, relay, port: bound };
      } catch (error) {
        lastError = error;
        await relay.close();
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !socket.proxy) break;
      }
    }
    const code = (lastError as NodeJS.ErrnoException | undefined)?.code ?? String(lastError);
    this.#reportOnce(
      'error',
      `${sp.key}: cannot listen on ${socket.host}:${socket.port === 0 ? 'a proxy port' : socket.port}: ${code} (retried at the next sync)`,
      `listen ${socket.id}`,
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
      for (const open of runtime.listeners.values()) if (open.socket.proxy) used.add(open.port);
    }
    const out: number[] = [];
    for (let port = range.from; port <= range.to; port++) if (!used.has(port)) out.push(port);
    return out;
  }

  async #close(open: OpenListener): Promise<void> {
    await open.relay.close();
    this.#log.info(
      { address: `${open.socket.host}:${open.port}` },
      `Stopped listening on ${open.socket.host}:${open.port}`,
    );
    // TCP connections already relayed keep going; remember the relay until they end, for stats and stop().
    if (open.relay instanceof TcpRelay && open.relay.activeConnections > 0) this.#retired.push(open);
  }

  /**
   * Deletes the UDP conntrack entries a sync left stale (see conntrack.ts). A failure is logged, never
   * fatal (the entries then age out).
   */
  async #deleteConntrack(deletions: readonly UdpConntrackDeletion[]): Promise<void> {
    for (const deletion of deletions) {
      let what: string;
      let run: () => Promise<void>;
      switch (deletion.kind) {
        case 'serviceIP':
          what = `UDP conntrack entries to ${deletion.ip}`;
          run = () => this.#conntrack.deleteUdpToServiceIP(deletion.ip);
          break;
        case 'nodePort':
          what = `UDP conntrack entries to node port ${deletion.port}`;
          run = () => this.#conntrack.deleteUdpToNodePort(deletion.port);
          break;
        default: {
          const never: never = deletion;
          throw new Error(`Unknown conntrack deletion: ${JSON.stringify(never)}`);
        }
      }
      try {
        await run();
      } catch (error) {
        this.#log.warn({ err: error }, `Could not delete the ${what}: ${String(error)}`);
      }
    }
  }

  /** Drops retired relays whose connections have all ended, and forgets the metrics nobody reports to. */
  #forgetDrained(): void {
    for (let i = this.#retired.length - 1; i >= 0; i--) {
      const r = this.#retired[i]!;
      if (r.relay instanceof TcpRelay && r.relay.activeConnections === 0) this.#retired.splice(i, 1);
    }
    for (const key of this.#forgetting) {
      if (this.#retired.some((r) => r.key === key)) continue;
      this.#forgetting.delete(key);
      this.#relayMetrics.forget(key);
    }
  }

  #reportOnce(level: 'warn' | 'error', message: string, key = message): void {
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#log[level](message);
  }
}
