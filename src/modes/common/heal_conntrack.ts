/**
 * Healing after an outage of the rules. While kproxy's rules are missing (flushed behind its back, a node
 * whose rules were lost, a restart that found none), a client's first packet to a service address creates
 * a connection-tracking entry without NAT; the packet goes nowhere and the entry stays (a TCP SYN_SENT
 * entry for two minutes). Once the rules are back, a later connection from the same client port (clients
 * reuse ephemeral ports within seconds under load) matches that entry instead of the nat table, and fails
 * again: upstream kube-proxy has the same weakness. After a sync that repaired missing rules, the kernel
 * modes delete exactly those entries: to a service address and port (cluster, external and load-balancer
 * IPs; node ports on any node address), whose reply comes from the address itself, i.e. that no DNAT
 * rewrote. Entries kproxy's rules did handle are never touched.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { ConntrackEntry, ConntrackTable, UnnatedTarget } from '../../kernel/conntrack_table.ts';
import type { IPFamily, ProxyState } from '../../model/types.ts';

/**
 * The un-NATed entries of `entries` that go to a service of `state`, grouped as one deletion per address,
 * protocol and port, in a stable order.
 *
 * @param entries the family's conntrack entries
 * @param state the family's view of the state (what the rules now serve)
 * @param family the family
 * @returns the deletions to make
 * @example unnatedServiceTargets(await table.list('IPv4'), familyView(state, 'IPv4'), 'IPv4')
 */
export function unnatedServiceTargets(
  entries: readonly ConntrackEntry[],
  state: ProxyState,
  family: IPFamily,
): UnnatedTarget[] {
  const serviceAddresses = new Set<string>();
  const nodePorts = new Set<string>();
  for (const sp of state.servicePorts.values()) {
    const protocol = sp.protocol.toLowerCase();
    for (const ip of [...sp.clusterIPs, ...sp.externalIPs, ...sp.loadBalancerIPs]) {
      serviceAddresses.add(`${protocol} ${ip} ${sp.port}`);
    }
    if (sp.nodePort > 0) nodePorts.add(`${protocol} ${sp.nodePort}`);
  }
  const targets = new Map<string, UnnatedTarget>();
  for (const e of entries) {
    const { original: o, reply: r } = e;
    // Un-NATed: the reply comes from where the client sent it.
    if (r.src !== o.dst || r.sport !== o.dport) continue;
    const toService = serviceAddresses.has(`${e.protocol} ${o.dst} ${o.dport}`);
    const toNodePort = nodePorts.has(`${e.protocol} ${o.dport}`);
    if (!toService && !toNodePort) continue;
    const key = `${e.protocol} ${o.dst} ${o.dport}`;
    if (!targets.has(key)) targets.set(key, { family, protocol: e.protocol, ip: o.dst, port: o.dport });
  }
  return [...targets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
}

/**
 * Deletes the un-NATed entries to this family's services (see the module comment). A failure to list or
 * delete is returned, not thrown: the rules are in place whatever happens here.
 *
 * @param table the conntrack seam
 * @param state the family's view of the state
 * @param family the family
 * @returns what was deleted, and the error if one stopped it
 * @example const { deleted } = await healUnnatedConntrack(table, view, 'IPv4')
 */
export async function healUnnatedConntrack(
  table: ConntrackTable,
  state: ProxyState,
  family: IPFamily,
): Promise<{ readonly deleted: readonly UnnatedTarget[]; readonly error?: unknown }> {
  const deleted: UnnatedTarget[] = [];
  try {
    const targets = unnatedServiceTargets(await table.list(family), state, family);
    for (const target of targets) {
      await table.deleteUnnated(target);
      deleted.push(target);
    }
    return { deleted };
  } catch (error) {
    return { deleted, error };
  }
}

/**
 * {@link healUnnatedConntrack}, with what it did logged (info: the entries deleted; warn: why it could
 * not), as every kernel mode's Proxier does it after a repair.
 *
 * @param table the conntrack seam
 * @param state the family's view of the state
 * @param family the family
 * @param log where it is said
 * @example await healAndLog(table, view, 'IPv4', log)
 */
export async function healAndLog(
  table: ConntrackTable,
  state: ProxyState,
  family: IPFamily,
  log: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  const { deleted, error } = await healUnnatedConntrack(table, state, family);
  if (deleted.length > 0) {
    log.info(
      { entries: deleted.map((t) => `${t.protocol} ${t.ip}:${t.port}`) },
      'Deleted connection-tracking entries created without NAT while the rules were missing',
    );
  }
  if (error !== undefined) log.warn({ err: error }, 'Cannot heal connection tracking after an outage');
}

/**
 * When a kernel mode's Proxier heals connection tracking ({@link healAndLog}): once, after the first
 * successful sync that follows an outage of its rules, and after the process's first sync (an outage may
 * have come before it). The iptables, nftables and ipvs Proxiers share the rule through it.
 *
 * @example
 * const heal = new HealSchedule();
 * if (repair !== undefined) heal.outage();
 * else if (periodicResync) await heal.checkBeforeResync(() => proxier.checkIntact());
 * // ... the sync ...
 * await heal.afterSync(() => healAndLog(table, state, family, log));
 */
export class HealSchedule {
  /** The next successful sync ends an outage (true at first: the process's first sync). */
  #pending = true;

  /** The rules were found missing or damaged: the next successful sync repairs them, then heals. */
  outage(): void {
    this.#pending = true;
  }

  /**
   * Before a periodic full resync: checks the rules first, since the resync may repair damage the
   * integrity check had not seen yet, and that outage needs healing all the same. Nothing is checked
   * while a heal is already due. A failing check counts as no damage (the resync goes on).
   *
   * @param check the Proxier's integrity check
   * @returns the damage found (an outage is then recorded), or undefined
   */
  async checkBeforeResync(check: () => Promise<string | undefined>): Promise<string | undefined> {
    if (this.#pending) return undefined;
    const damage = await check().catch(() => undefined);
    if (damage !== undefined) this.#pending = true;
    return damage;
  }

  /**
   * After a successful sync: heals, once, when an outage (or the first sync) is due.
   *
   * @param heal what heals (usually {@link healAndLog})
   */
  async afterSync(heal: () => Promise<void>): Promise<void> {
    if (!this.#pending) return;
    this.#pending = false;
    await heal();
  }
}
