/**
 * Both IP families side by side, as upstream's metaproxier runs one proxier per family
 * (pkg/proxy/metaproxier): every mode plans and applies one family at a time, with the state's view of
 * that family ({@link familyView}) and the flags of that family ({@link planOptionsForFamily}); this module
 * runs them together for the daemon, and prints and traces them for `kproxy rules` and `kproxy trace`.
 *
 * A family the host cannot serve (IPv6 disabled in the kernel, ip6tables missing) is left out with one
 * warning and `kproxy_ip_family_available{ip_family} 0`; the other family keeps working. IPv4 is required,
 * as kproxy's primary family.
 *
 * @module
 */
import type { Logger } from 'pino';
import { KproxyError } from '../contracts/errors.ts';
import { type PlanOptions, planOptionsForFamily } from '../contracts/plan_options.ts';
import type { FamilySyncResult, SyncOptions, SyncReport } from '../contracts/sync.ts';
import type { TracePacket, TraceResult } from '../contracts/trace.ts';
import { IP_FAMILIES, ipFamilyOf } from '../model/ip_family.ts';
import type { IPFamily, ProxyState, StateChange } from '../model/types.ts';
import { familyView } from '../tracker/family_view.ts';
import type { ModeDefinition, Proxier, ProxierDeps } from './mode.ts';

/** Keys of {@link PlanOptions} that {@link planOptionsForFamily} narrows to one family. */
const FAMILY_KEYS = new Set<PropertyKey>([
  'nodeIPs',
  'clusterCIDRs',
  'nodePortAddresses',
  'localDetector',
  'ipvsTuning',
]);

/**
 * A read-only view of `options` (which may itself be live: the daemon's options follow Node address
 * changes) as the planner of `family` sees them; a narrowed value is recomputed only when the underlying
 * one changes.
 *
 * @param options the options of both families
 * @param family the family
 * @returns the family's options, live
 * @example familyOptionsView(deps.options, 'IPv6').nodeIPs
 */
export function familyOptionsView(options: PlanOptions, family: IPFamily): PlanOptions {
  const memo = new Map<PropertyKey, { source: unknown; value: unknown }>();
  const narrowed = (key: PropertyKey): unknown => {
    const source = Reflect.get(options, key);
    const hit = memo.get(key);
    if (hit !== undefined && hit.source === source) return hit.value;
    const value = Reflect.get(planOptionsForFamily({ ...options, [key]: source }, family), key);
    memo.set(key, { source, value });
    return value;
  };
  return new Proxy(Object.create(null) as PlanOptions, {
    get: (_t, key) => {
      if (key === 'ipFamily') return family;
      return FAMILY_KEYS.has(key) ? narrowed(key) : Reflect.get(options, key);
    },
    has: (_t, key) => key === 'ipFamily' || Reflect.has(options, key),
    ownKeys: () => [...new Set([...Reflect.ownKeys(options), 'ipFamily'])],
    getOwnPropertyDescriptor: (_t, key) => {
      if (key !== 'ipFamily' && !Reflect.has(options, key)) return undefined;
      const value =
        key === 'ipFamily' ? family : FAMILY_KEYS.has(key) ? narrowed(key) : Reflect.get(options, key);
      return { value, enumerable: true, configurable: true, writable: false };
    },
    set: () => false,
  });
}

/** What {@link DualStackProxier.sync} reports: the sum, and each family's own report and time. */
export interface DualStackSyncReport extends SyncReport {
  readonly families: ReadonlyMap<IPFamily, FamilySyncResult>;
}

/** A sync in which some family failed (the others were synced). */
export class FamilySyncError extends KproxyError {
  override readonly name = 'FamilySyncError';
  override readonly code = 'KPROXY_FAMILY_SYNC';
  /** Each failed family's error, in family order. */
  readonly errors: readonly unknown[];
  /** What the sync did: each family's result. */
  readonly report: SyncReport;

  constructor(errors: readonly { family: IPFamily; error: unknown }[], report: SyncReport) {
    super(
      `Sync failed for ${errors
        .map((e) => `${e.family}: ${e.error instanceof Error ? e.error.message : String(e.error)}`)
        .join('; ')}`,
      { cause: errors[0]?.error },
    );
    this.errors = errors.map((e) => e.error);
    this.report = report;
  }
}

/**
 * One Proxier per family, synced one after the other (IPv4 first), each with its family's view of the
 * state. A family that fails does not stop the other; the sync then throws {@link FamilySyncError}, and
 * the daemon retries both fully, as it does any failed sync.
 */
export class DualStackProxier implements Proxier {
  readonly #proxiers: ReadonlyMap<IPFamily, Proxier>;
  #last: ReadonlyMap<IPFamily, FamilySyncResult> | undefined;

  /**
   * @param mode the mode whose Proxier runs for each family
   * @param deps the daemon's deps (options of both families; they stay live)
   * @param families the families this host serves (see {@link availableFamilies})
   */
  constructor(mode: Pick<ModeDefinition, 'createProxier'>, deps: ProxierDeps, families: readonly IPFamily[]) {
    const proxiers = new Map<IPFamily, Proxier>();
    for (const family of IP_FAMILIES) {
      if (!families.includes(family)) continue;
      proxiers.set(
        family,
        mode.createProxier({
          ...deps,
          options: familyOptionsView(deps.options, family),
          logger: deps.logger.child({ ipFamily: family }),
          // What a Proxier counts itself (nftables sync failures, say) is labelled with its family.
          metrics: deps.metrics?.forFamily(family),
        }),
      );
    }
    this.#proxiers = proxiers;
  }

  /** The families synced, in order. */
  get families(): readonly IPFamily[] {
    return [...this.#proxiers.keys()];
  }

  /** The Proxier of one family (tests, and the userspace lab driver). */
  proxierOf(family: IPFamily): Proxier | undefined {
    return this.#proxiers.get(family);
  }

  /**
   * Each family's part of the last sync, failed or not (undefined before the first, or when it failed
   * before any family ran): how the daemon tells its observers which family failed, also when the one
   * family's own error is rethrown as it is.
   */
  get lastSyncFamilies(): ReadonlyMap<IPFamily, FamilySyncResult> | undefined {
    return this.#last;
  }

  async sync(state: ProxyState, change: StateChange, options?: SyncOptions): Promise<DualStackSyncReport> {
    const families = new Map<IPFamily, FamilySyncResult>();
    const errors: { family: IPFamily; error: unknown }[] = [];
    this.#last = families;
    for (const [family, proxier] of this.#proxiers) {
      const t0 = performance.now();
      try {
        const view = familyView(state, family);
        const report = await proxier.sync(view, change, options);
        families.set(family, { ok: true, report, state: view, seconds: (performance.now() - t0) / 1000 });
      } catch (error) {
        families.set(family, { ok: false, error, seconds: (performance.now() - t0) / 1000 });
        errors.push({ family, error });
      }
    }
    const reports = [...families.values()].flatMap((r) => (r.ok ? [r.report] : []));
    const report: DualStackSyncReport = {
      kind: reports.some((r) => r.kind === 'full') || reports.length === 0 ? 'full' : 'partial',
      servicePortsWritten: reports.reduce((n, r) => n + r.servicePortsWritten, 0),
      restoreBytes: reports.reduce((n, r) => n + r.restoreBytes, 0),
      restoreLines: reports.reduce((n, r) => n + r.restoreLines, 0),
      families,
    };
    if (errors.length === 1 && this.#proxiers.size === 1) throw errors[0]!.error;
    if (errors.length > 0) throw new FamilySyncError(errors, report);
    return report;
  }

  /**
   * Each family's integrity check (modes that have one), IPv4 first: the first damage found, named with
   * its family, or undefined when every family's kernel state is intact.
   */
  async checkIntact(): Promise<string | undefined> {
    for (const [family, proxier] of this.#proxiers) {
      const reason = await proxier.checkIntact?.();
      if (reason !== undefined) return `${family}: ${reason}`;
    }
    return undefined;
  }

  async stop(): Promise<void> {
    const results = await Promise.allSettled([...this.#proxiers.values()].map((p) => p.stop()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}

/** Why the host cannot serve IPv6 at all, or undefined when it can (read by {@link availableFamilies}). */
export type Ipv6Probe = () => Promise<string | undefined>;

/**
 * The families this host can serve with `mode`: IPv4 (required: its host check throws as before), and
 * IPv6 when the mode plans it ({@link ModeDefinition.ipFamilies}), unless the kernel has it disabled or
 * the mode's host check for IPv6 fails (ip6tables missing, say). A family left out is logged once, with
 * the reason.
 *
 * @param mode the mode
 * @param deps the deps for its host check (options of both families)
 * @param ipv6 the kernel's IPv6 probe (src/kernel/ip_family_support.ts)
 * @param log where the warning goes
 * @returns the families, and why each one left out is
 * @example const { families } = await availableFamilies(mode, deps, probeIpv6, log)
 */
export async function availableFamilies(
  mode: Pick<ModeDefinition, 'checkHost' | 'ipFamilies' | 'name'>,
  deps: ProxierDeps,
  ipv6: Ipv6Probe,
  log: Logger,
): Promise<{ families: IPFamily[]; unavailable: Map<IPFamily, string> }> {
  await mode.checkHost({ ...deps, options: familyOptionsView(deps.options, 'IPv4') });
  const unavailable = new Map<IPFamily, string>();
  let reason = (mode.ipFamilies ?? ['IPv4']).includes('IPv6')
    ? await ipv6()
    : `the ${mode.name} mode does not plan IPv6 yet`;
  if (reason === undefined) {
    try {
      await mode.checkHost({ ...deps, options: familyOptionsView(deps.options, 'IPv6') });
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
  }
  if (reason !== undefined) {
    unavailable.set('IPv6', reason);
    log.warn({ ipFamily: 'IPv6', reason }, `IPv6 Services will not be served on this node: ${reason}`);
  }
  return { families: IP_FAMILIES.filter((f) => !unavailable.has(f)), unavailable };
}

/**
 * What `kproxy rules` prints: each family's plan in its tool's own input format, IPv4 first, each headed
 * by a comment line (which every restore format and nft accept), or one family alone and bare, ready to
 * pipe into `iptables-restore --test`, `ip6tables-restore --test` or `nft -c -f`.
 *
 * @param mode the mode
 * @param state the tracker's state (both families)
 * @param options the options of both families
 * @param family one family alone, or undefined for both
 * @returns the text
 * @example renderFamilies(iptablesMode, state, options, 'IPv6')
 */
export function renderFamilies(
  mode: Pick<ModeDefinition, 'renderRules' | 'ipFamilies' | 'name'>,
  state: ProxyState,
  options: PlanOptions,
  family?: IPFamily,
): string {
  const planned = mode.ipFamilies ?? ['IPv4'];
  const render = (f: IPFamily) => mode.renderRules(familyView(state, f), planOptionsForFamily(options, f));
  if (family !== undefined) {
    if (!planned.includes(family)) throw new TypeError(`The ${mode.name} mode does not plan ${family}`);
    return render(family);
  }
  return IP_FAMILIES.map((f) =>
    planned.includes(f) ? `# ${f}\n${render(f)}` : `# ${f}: not planned by the ${mode.name} mode\n`,
  ).join('');
}

/**
 * Traces a packet through the plan of its family (the destination's); a source of the other family is
 * an error no packet can have.
 *
 * @param mode the mode
 * @param state the tracker's state (both families)
 * @param options the options of both families
 * @param packet the packet
 * @returns the mode's trace
 * @throws {TypeError} when source and destination are of different families
 * @example traceFamily(nftablesMode, state, options, { source: '2001:2:0:1::9', destination: '2001:2::60', port: 80, protocol: 'TCP' })
 */
export function traceFamily(
  mode: Pick<ModeDefinition, 'trace' | 'ipFamilies' | 'name'>,
  state: ProxyState,
  options: PlanOptions,
  packet: TracePacket,
): TraceResult {
  const family = ipFamilyOf(packet.destination);
  if (ipFamilyOf(packet.source) !== family) {
    throw new TypeError(
      `The source ${packet.source} and the destination ${packet.destination} are of different IP families`,
    );
  }
  if (!(mode.ipFamilies ?? ['IPv4']).includes(family)) {
    return {
      verdict: 'NONE',
      masquerade: false,
      backends: [],
      path: [`The ${mode.name} mode does not plan ${family}`],
    };
  }
  return mode.trace(familyView(state, family), planOptionsForFamily(options, family), packet);
}
