/**
 * `kproxy run` and `kproxy cleanup`: build the daemon from flags, start it, stop it on SIGTERM/SIGINT.
 *
 * @module
 */

import { writeFile } from 'node:fs/promises';
import type { IptablesBackend, ProxyMode } from '../contracts/proxy_mode.ts';
import { isProxyMode, PROXY_MODES } from '../contracts/proxy_mode.ts';
import type { SyncObserver } from '../contracts/sync.ts';
import { Daemon } from '../daemon.ts';
import { createExec } from '../kernel/exec.ts';
import { probeIpv6 } from '../kernel/ip_family_support.ts';
import { createNodeSysctls } from '../kernel/node_sysctls.ts';
import { applyNodeTuning } from '../kernel/node_tuning.ts';
import { createLogger } from '../log.ts';
import { metricsObserver } from '../metrics/metrics_observer.ts';
import { ProxyMetrics } from '../metrics/proxy_metrics.ts';
import { availableFamilies } from '../modes/dual_stack.ts';
import type { ProxierDeps } from '../modes/mode.ts';
import { loadMode } from '../modes/registry.ts';
import { healthObserver, serviceHealthObserver } from '../server/health_observers.ts';
import { HealthState } from '../server/health_state.ts';
import { startHealthServer } from '../server/healthz.ts';
import { startMetricsServer } from '../server/metrics_server.ts';
import { nodeIneligibleReason } from '../server/node_eligibility.ts';
import { ServiceHealthServer } from '../server/service_health.ts';
import { ipvsTuningFromConfig } from './config/ipvs_tuning.ts';
import { loadConfigurationFile } from './config/load.ts';
import { resolveRun } from './config/precedence.ts';
import { configurationYaml, configzBody } from './config/serialize.ts';
import { watchConfigFile } from './config/watch.ts';
import { parseDuration } from './duration.ts';
import {
  FlagError,
  iptablesBackend,
  localAddresses,
  nodeCIDRDetector,
  type PlanFlags,
  planOptionsFromFlags,
} from './flags.ts';
import type { RunFlags } from './run_flags.ts';
import { createSource } from './source_factory.ts';

export type { RunFlags } from './run_flags.ts';

/** How `run` learns which flags were on the command line (commander's value source). */
export interface RunContext {
  /** True when the flag was given, false when it holds its default. */
  readonly given: (key: keyof RunFlags) => boolean;
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/**
 * Runs the daemon until SIGTERM/SIGINT (or, with `--write-config-to`, writes the effective configuration
 * and returns). A bad `--config` file fails here, before anything is programmed.
 *
 * @param commandFlags parsed flags of `run`
 * @param io output
 * @param context which flags were given (default: none, every value is a default)
 */
export async function runCommand(
  commandFlags: RunFlags,
  io: Io,
  context: RunContext = { given: () => false },
): Promise<void> {
  const file =
    commandFlags.config === undefined ? undefined : await loadConfigurationFile(commandFlags.config);
  // kube-proxy's --logging-format is kproxy's --log-format.
  const loggingFormat = commandFlags.loggingFormat;
  const given = (key: keyof RunFlags) =>
    context.given(key) || (key === 'logFormat' && loggingFormat !== undefined);
  const resolved = resolveRun(
    loggingFormat === undefined ? commandFlags : { ...commandFlags, logFormat: loggingFormat },
    given,
    file,
  );
  const flags = resolved.flags;
  if (flags.cleanup) {
    await cleanupAll({ ...flags, iptablesBackend: 'all' }, io);
    return;
  }
  if (!isProxyMode(flags.proxyMode)) throw new FlagError(`Invalid --proxy-mode: "${flags.proxyMode}"`);
  const modeName: ProxyMode = flags.proxyMode;
  const logger = createLogger({ format: flags.logFormat, level: flags.logLevel });
  for (const warning of resolved.warnings) {
    logger.warn({ config: commandFlags.config }, `Configuration: ${warning}`);
  }
  const plan = {
    ...planOptionsFromFlags(flags, parseDuration),
    ipvsTuning: ipvsTuningFromConfig(resolved.config),
  };
  if (commandFlags.writeConfigTo !== undefined) {
    await writeFile(commandFlags.writeConfigTo, configurationYaml(resolved.config));
    logger.info({ file: commandFlags.writeConfigTo }, 'Wrote configuration');
    return;
  }
  const ipvs = modeName === 'ipvs';
  const minSyncPeriodMs = parseDuration(ipvs ? flags.ipvsMinSyncPeriod : flags.iptablesMinSyncPeriod);
  const syncPeriodMs = parseDuration(ipvs ? flags.ipvsSyncPeriod : flags.iptablesSyncPeriod);
  const source = await createSource(flags, { nodeName: plan.nodeName, logger });
  const mode = await loadMode(modeName);
  const exec = createExec();
  const deps: ProxierDeps = { options: plan, exec, logger, iptablesBackend: iptablesBackend(flags) };
  const { families, unavailable } = await availableFamilies(mode, deps, probeIpv6, logger);
  // A userspace-mode kproxy leaves its portal rules for the next one; another mode must not run under them.
  if (modeName !== 'userspace' && process.getuid?.() === 0)
    await (await loadMode('userspace')).removeLeftovers?.(deps, families);
  // kube-proxy's conntrack and OOM-score tuning, before the first sync; the userspace mode runs without root.
  await applyNodeTuning(createNodeSysctls(), resolved.config, { logger, strict: modeName !== 'userspace' });
  const metrics = new ProxyMetrics({ mode: modeName, defaultMetrics: true });
  for (const family of ['IPv4', 'IPv6'] as const) metrics.ipFamilyAvailable(family, !unavailable.has(family));
  const health = new HealthState({ healthTimeoutMs: 2 * syncPeriodMs });
  const servers = new AbortController();
  const onError = (err: Error) => logger.warn({ err }, 'Probe server error');
  // A probe server that cannot bind is reported, not fatal (as kube-proxy); an empty address disables it.
  const serve = async (what: string, address: string, start: () => Promise<unknown>) => {
    if (address === '') return;
    try {
      await start();
      logger.info({ address }, `Serving ${what}`);
    } catch (err) {
      logger.error({ err, address }, `Cannot serve ${what}`);
    }
  };
  await serve('health checks', flags.healthzBindAddress, () =>
    startHealthServer({
      bindAddress: flags.healthzBindAddress,
      health,
      metrics,
      signal: servers.signal,
      onError,
    }),
  );
  await serve('metrics', flags.metricsBindAddress, () =>
    startMetricsServer({
      bindAddress: flags.metricsBindAddress,
      metrics,
      proxyMode: modeName,
      configz: () => configzBody(resolved.config),
      signal: servers.signal,
      onError,
    }),
  );
  const serviceHealth = new ServiceHealthServer({
    proxyHealthy: () => health.health().healthy,
    signal: servers.signal,
  });
  const observers: SyncObserver[] = [
    metricsObserver(metrics),
    healthObserver(health),
    serviceHealthObserver(serviceHealth, logger),
  ];
  let ineligible: string | undefined;
  if (plan.localDetector?.mode === 'NodeCIDR') {
    // Upstream waits for them; kproxy syncs meanwhile, with no traffic taken as local.
    logger.warn(
      "--detect-local-mode NodeCIDR: waiting for the Node's podCIDRs (until then no traffic is local)",
    );
  }
  const daemon = new Daemon({
    mode,
    source,
    plan,
    exec,
    logger,
    iptablesBackend: deps.iptablesBackend,
    minSyncPeriodMs,
    syncPeriodMs,
    rulesCheckPeriodMs: parseDuration(flags.rulesCheckPeriod),
    observers,
    metrics,
    families,
    // Without --node-ip, NodePorts are served on this host's addresses and the Node's, re-read when the
    // Node's change (a new address on an interface usually shows in the Node too).
    nodeIPsFor:
      flags.nodeIp === undefined
        ? (nodeAddresses) => [...new Set([...localAddresses(), ...nodeAddresses])].sort()
        : undefined,
    onNode: (event) => {
      // --detect-local-mode NodeCIDR: the Node's podCIDRs tell pod traffic apart once the Node has them.
      const detector =
        event.type === 'node'
          ? nodeCIDRDetector(daemon.planOptions.localDetector, event.node.podCIDRs)
          : undefined;
      if (detector !== undefined && daemon.setPlanOptions({ localDetector: detector }))
        logger.info({ localDetector: detector }, "Local traffic is detected by the Node's pod CIDRs");
      const reason = event.type === 'node' ? nodeIneligibleReason(event.node) : 'the Node object was deleted';
      health.setNodeEligible(reason === undefined);
      if (reason !== ineligible) {
        if (reason === undefined)
          logger.info('The node is eligible again: /healthz follows the proxy health');
        else
          logger.warn({ reason }, 'The node is not eligible for load-balancer traffic: /healthz answers 503');
      }
      ineligible = reason;
    },
  });

  let stopping: Promise<void> | undefined;
  let stop: (signal: string) => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = (signal: string) => {
      if (stopping !== undefined) return;
      logger.info({ signal }, 'Stopping kproxy');
      stopping = daemon.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'Error while stopping');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  const configFile = commandFlags.config;
  if (configFile !== undefined && file?.text !== undefined) {
    watchConfigFile(
      configFile,
      file.text,
      (change) => {
        if (change.kind === 'changed') {
          // As kube-proxy: exit non-zero so that the DaemonSet restarts kproxy with the new file. The
          // kernel modes' rules stay in place meanwhile, and the restart's first sync takes them over.
          logger.warn({ config: configFile }, 'The configuration file changed: stopping, to restart with it');
          process.exitCode = 1;
          stop('config file changed');
        } else if (change.kind === 'invalid') {
          logger.error(
            { config: configFile, reason: change.reason },
            'The configuration file changed but does not load: keeping the configuration in force',
          );
        } else {
          logger.warn({ config: configFile, reason: change.reason }, 'Cannot read the configuration file');
        }
      },
      { signal: servers.signal, intervalMs: configWatchIntervalMs() },
    );
  }
  // Keeps the process alive until a signal, whatever the source and mode hold open.
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    await daemon.start();
    await stopped;
  } finally {
    servers.abort();
    clearInterval(keepAlive);
  }
}

/**
 * Removes what every mode may have programmed, on the chosen iptables backend(s).
 *
 * @param flags log flags and the backend (`all` = legacy and nft)
 * @param io output
 */
export async function cleanupAll(
  flags: { logFormat: 'json' | 'text'; logLevel: string; iptablesBackend: string },
  io: Io,
): Promise<void> {
  const logger = createLogger({ format: flags.logFormat, level: flags.logLevel });
  const backends: IptablesBackend[] =
    flags.iptablesBackend === 'all' ? ['legacy', 'nft'] : [iptablesBackend(flags as unknown as PlanFlags)];
  const plan = planOptionsFromFlags(
    { iptablesMasqueradeBit: '14', ipvsScheduler: 'rr', iptablesBackend: 'auto', nodeIp: [] },
    parseDuration,
  );
  const failures: string[] = [];
  for (const name of PROXY_MODES) {
    const mode = await loadMode(name);
    for (const backend of backends) {
      try {
        await mode.cleanup({ options: plan, exec: createExec(), logger, iptablesBackend: backend });
      } catch (error) {
        failures.push(`${name} (${backend}): ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  if (failures.length > 0) {
    for (const f of failures) io.err(`kproxy cleanup: ${f}\n`);
    process.exitCode = 1;
  } else {
    io.out('kproxy cleanup: done\n');
  }
}

/** How often `--config` is re-read (ms): `KPROXY_CONFIG_WATCH_INTERVAL_MS` (tests), else 2 s. */
function configWatchIntervalMs(): number {
  const value = Number(process.env.KPROXY_CONFIG_WATCH_INTERVAL_MS);
  return Number.isInteger(value) && value >= 50 ? value : 2000;
}
