/**
 * The flags of `kproxy run`, as commander parses them.
 *
 * @module
 */
import type { PlanFlags } from './flags.ts';
import type { SourceFlags } from './source_factory.ts';

/** Every flag of `run`. */
export interface RunFlags extends PlanFlags, SourceFlags {
  readonly proxyMode: string;
  readonly logFormat: 'json' | 'text';
  readonly logLevel: string;
  /** `--logging-format`: kube-proxy's spelling of `--log-format`. */
  readonly loggingFormat?: 'json' | 'text';
  readonly iptablesMinSyncPeriod: string;
  readonly iptablesSyncPeriod: string;
  readonly ipvsMinSyncPeriod: string;
  readonly ipvsSyncPeriod: string;
  /** `--rules-check-period`: the integrity check between syncs (0: never). */
  readonly rulesCheckPeriod: string;
  readonly healthzBindAddress: string;
  readonly metricsBindAddress: string;
  readonly cleanup: boolean;
  /** `--config`: a `KubeProxyConfiguration` file. */
  readonly config?: string;
  /** `--write-config-to`: write the effective configuration there and exit. */
  readonly writeConfigTo?: string;
}
