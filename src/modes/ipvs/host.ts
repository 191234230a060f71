/**
 * The ipvs mode's startup check.
 *
 * Upstream kube-proxy used to fall back to iptables mode silently when IPVS was missing; kproxy stops
 * with a clear error instead. The check probes the scheduler the way upstream does (add a throwaway
 * virtual server, then delete it), at 198.18.255.254:20000 (the benchmarking range kproxy's tests use,
 * never a real service).
 *
 * @module
 */
import { KproxyError } from '../../contracts/errors.ts';
import type { ProxierDeps } from '../mode.ts';
import { defaultScheduler } from './scheduler.ts';
import { realIpvsSeams } from './seams.ts';

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
