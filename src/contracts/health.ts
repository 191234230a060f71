/**
 * The health probes' names and the counter the health server reports to (metrics implement it).
 *
 * @module
 */

/** The two probe endpoints. */
export type HealthEndpoint = 'healthz' | 'livez';

/** Counts probe answers (`kubeproxy_proxy_healthz_total{code}`); `ProxyMetrics` implements it. */
export interface HealthProbeCounter {
  healthProbe(endpoint: HealthEndpoint, code: number): void;
}
