/**
 * The ipvs mode's startup check and cleanup.
 *
 * Upstream kube-proxy used to fall back to iptables mode silently when IPVS was missing; kproxy stops
 * with a clear error instead. The check probes the scheduler the way upstream does (add a throwaway
 * virtual server, then delete it), at 198.18.255.254:20000 (the benchmarking range kproxy's tests use,
 * never a real service).
 *
 * @module
 */
import { KproxyError } from '../../contracts/errors.ts';
import { KernelError } from '../../kernel/exec.ts';
import { iptablesFor } from '../../kernel/iptables.ts';
import { cleanupEachBackend, cleanupIptables } from '../common/iptables_chain_cleanup.ts';
import type { ProxierDeps } from '../mode.ts';
import { allIpvsSetNames } from './ipsets.ts';
import { isIpvsModeChain } from './iptables_rules.ts';
import { realIpvsSeams } from './proxier.ts';
import { defaultScheduler } from './scheduler.ts';

/** This host cannot run the ipvs mode. */
export class IpvsUnavailableError extends KproxyError {
  override readonly name = 'IpvsUnavailableError';
  override readonly code = 'KPROXY_IPVS_UNAVAILABLE';
}

const PROBE = { protocol: 'TCP', address: '198.18.255.254', port: 20000 } as const;

/**
 * Fails with {@link IpvsUnavailableError} unless IPVS, the chosen scheduler, ipvsadm and ipset work here.
 *
 * @param deps the daemon's deps
 * @throws {IpvsUnavailableError} with the reason and what to do
 */
export async function checkIpvsHost(deps: ProxierDeps): Promise<void> {
  const scheduler = defaultScheduler(deps.options.ipvsScheduler);
  const unavailable = (what: string, error: unknown) =>
    new IpvsUnavailableError(
      `IPVS is not available on this host: ${what}: ${error instanceof Error ? error.message : String(error)} ` +
        '(load the ip_vs modules, install ipvsadm and ipset, or use --proxy-mode iptables)',
      { cause: error },
    );
  const { ipvs, ipset } = realIpvsSeams(deps);
  let listed: Awaited<ReturnType<typeof ipvs.list>>;
  try {
    listed = await ipvs.list();
  } catch (error) {
    throw unavailable('cannot list the IPVS table (ipvsadm -Ln)', error);
  }
  try {
    await ipset.version();
  } catch (error) {
    throw unavailable('ipset does not run', error);
  }
  if (listed.some((vs) => vs.scheduler === scheduler)) return;
  const service = { ...PROBE, scheduler, flags: [], persistentTimeout: undefined };
  try {
    if (
      listed.some(
        (vs) => vs.address === PROBE.address && vs.port === PROBE.port && vs.protocol === PROBE.protocol,
      )
    ) {
      await ipvs.apply([{ op: 'delete-service', service: PROBE }]);
    }
    await ipvs.apply([{ op: 'add-service', service }]);
  } catch (error) {
    throw unavailable(`the ${scheduler} scheduler cannot be used (module ip_vs_${scheduler})`, error);
  }
  await ipvs.apply([{ op: 'delete-service', service: PROBE }]);
}

/** True for "the tool is not installed" (spawn failed) or "IPVS is not in this kernel". */
function nothingThere(error: unknown): boolean {
  return (
    error instanceof KernelError &&
    (error.exitCode === -1 || /Protocol not available|Can't initialize ipvs/i.test(error.stderr))
  );
}

/**
 * Removes everything the ipvs mode may have programmed: every virtual server, kube-ipvs0, kproxy's
 * iptables chains and the jumps to them (both families, on the backends `--iptables-backend` names, with
 * the removal shared with the iptables mode), and kproxy's ipsets. Succeeds when nothing is there.
 *
 * @param deps the daemon's deps
 */
export async function cleanupIpvs(deps: ProxierDeps): Promise<void> {
  const { ipvs, netlink, ipset } = realIpvsSeams(deps);
  try {
    await ipvs.flush();
  } catch (error) {
    if (!nothingThere(error)) throw error;
  }
  await netlink.deleteDummy();
  await cleanupEachBackend(deps.iptablesBackend, async (backend) => {
    for (const family of ['IPv4', 'IPv6'] as const) {
      try {
        await cleanupIptables(iptablesFor(deps.exec, backend, { family }), { owns: isIpvsModeChain });
      } catch (error) {
        // A host without IPv6 (or without ip6tables) has no IPv6 rules to remove.
        if (family === 'IPv4' || !(error instanceof KernelError)) throw error;
        deps.logger.debug({ err: error, backend }, 'ipvs cleanup: no IPv6 iptables');
      }
    }
  });
  let existing: string[];
  try {
    existing = (await ipset.list()).map((s) => s.name);
  } catch (error) {
    if (nothingThere(error)) return;
    throw error;
  }
  const ours = new Set(allIpvsSetNames());
  for (const name of existing.filter((n) => ours.has(n))) {
    try {
      await ipset.restore(`destroy ${name}\n`);
    } catch (error) {
      // Rules of another iptables backend may still name the set; that backend's cleanup pass removes
      // them and then the set. Anything else is a real failure.
      if (!(error instanceof KernelError) || !/in use by a kernel component/.test(error.stderr)) throw error;
      deps.logger.debug(
        { set: name },
        'ipvs cleanup: set still in use by iptables rules (another backend?); kept',
      );
    }
  }
}
