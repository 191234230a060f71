/**
 * Which IPVS scheduler a service uses: `--ipvs-scheduler`, or the service's own choice through the
 * `kproxy.io/ipvs-scheduler` annotation (kube-router's `kube-router.io/service.scheduler` is the model).
 *
 * @module
 */
import { KproxyError } from '../../contracts/errors.ts';
import { IPVS_SCHEDULERS, type IpvsScheduler, type IpvsSchedulerFlag } from '../../kernel/ipvs.ts';

/** The annotation through which a Service picks its own IPVS scheduler (e.g. `sh`). */
export const IPVS_SCHEDULER_ANNOTATION = 'kproxy.io/ipvs-scheduler';

/** `--ipvs-scheduler` names no IPVS scheduler. */
export class IpvsSchedulerError extends KproxyError {
  override readonly name = 'IpvsSchedulerError';
  override readonly code = 'KPROXY_IPVS_SCHEDULER_UNKNOWN';
}

/**
 * Narrows a name to a scheduler.
 *
 * @param name e.g. `rr`
 * @returns true when IPVS has such a scheduler
 */
export function isIpvsScheduler(name: string): name is IpvsScheduler {
  return (IPVS_SCHEDULERS as readonly string[]).includes(name);
}

/**
 * Checks `--ipvs-scheduler` (an empty value means rr, as upstream).
 *
 * @param name the flag's value
 * @returns the scheduler
 * @throws {IpvsSchedulerError} for an unknown name
 */
export function defaultScheduler(name: string): IpvsScheduler {
  if (name === '') return 'rr';
  if (!isIpvsScheduler(name)) {
    throw new IpvsSchedulerError(`Unknown IPVS scheduler: ${name} (one of ${IPVS_SCHEDULERS.join(', ')})`);
  }
  return name;
}

/**
 * The scheduler of one service: its annotation if valid, else the default.
 *
 * @param annotations the service's annotations
 * @param fallback the `--ipvs-scheduler` scheduler
 * @returns the scheduler and, for an invalid annotation, a warning
 */
export function serviceScheduler(
  annotations: Readonly<Record<string, string>>,
  fallback: IpvsScheduler,
): { readonly scheduler: IpvsScheduler; readonly warning: string | undefined } {
  const wanted = annotations[IPVS_SCHEDULER_ANNOTATION];
  if (wanted === undefined) return { scheduler: fallback, warning: undefined };
  const trimmed = wanted.trim();
  if (isIpvsScheduler(trimmed)) return { scheduler: trimmed, warning: undefined };
  return {
    scheduler: fallback,
    warning: `Ignored annotation ${IPVS_SCHEDULER_ANNOTATION}=${JSON.stringify(wanted)}: not an IPVS scheduler; using ${fallback}`,
  };
}

/**
 * Scheduler flags kproxy sets: upstream sets the port-hashing flag for mh (`mh-port`), nothing otherwise.
 *
 * @param scheduler the scheduler
 * @returns the flags
 */
export function schedulerFlags(scheduler: IpvsScheduler): readonly IpvsSchedulerFlag[] {
  return scheduler === 'mh' ? ['mh-port'] : [];
}
