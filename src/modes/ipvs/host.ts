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

/** The IPv6 probe: a throwaway virtual server in 2001:2::/48 (the IPv6 benchmarking range kproxy's tests use). */
const PROBE6 = { protocol: 'TCP', address: '2001:2:0:ffff::fffe', port: 20000 } as const;

/**
 * Fails with {@link IpvsUnavailableError} unless IPVS, the chosen scheduler, ipvsadm and ipset work here;
 * with `deps.options.ipFamily` IPv6, also unless ip6tables works and
 * IPVS takes an IPv6 virtual server (a kernel without CONFIG_IP_VS_IPV6 refuses it).
 *
 * @param deps the daemon's deps
 * @throws {IpvsUnavailableError} with the reason and what to do
 * @example await checkIpvsHost({ ...deps, options: { ...deps.options, ipFamily: 'IPv6' } })
 */
export async function checkIpvsHost(deps: ProxierDeps): Promise<void> {
  await checkIpvs(deps);
  if (deps.options.ipFamily === 'IPv6') await checkIpv6(deps);
}

async function checkIpv6(deps: ProxierDeps): Promise<void> {
  const { ipvs, iptables } = realIpvsSeams(deps);
  const unavailable = (what: string, error: unknown) =>
    new IpvsUnavailableError(
      `The ipvs mode cannot serve IPv6 on this host: ${what}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  try {
    await (await iptables('IPv6')).save('nat');
  } catch (error) {
    throw unavailable('ip6tables does not work (install ip6tables, or load ip6table_nat)', error);
  }
  const probe = { ...PROBE6, scheduler: 'rr', flags: [], persistentTimeout: undefined };
  try {
    const listed = await ipvs.list();
    if (listed.some((vs) => vs.address === PROBE6.address && vs.port === PROBE6.port))
      await ipvs.apply([{ op: 'delete-service', service: PROBE6 }]);
    await ipvs.apply([{ op: 'add-service', service: probe }]);
  } catch (error) {
    throw unavailable('IPVS takes no IPv6 virtual server (a kernel without CONFIG_IP_VS_IPV6?)', error);
  }
  await ipvs.apply([{ op: 'delete-service', service: PROBE6 }]);
}

async function checkIpvs(deps: ProxierDeps): Promise<void> {
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
