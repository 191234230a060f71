/**
 * The `kproxy` command line: parses flags and wires the layers; no mode logic lives here.
 *
 * @module
 */
import { isIP } from 'node:net';
import { Command, Option } from 'commander';
import type { PlanOptions } from '../contracts/plan_options.ts';
import { interfaceNameProblem } from '../contracts/plan_options.ts';
import type { ProxyMode } from '../contracts/proxy_mode.ts';
import { isProxyMode, PROXY_MODES } from '../contracts/proxy_mode.ts';
import type { TracePacket, TraceResult } from '../contracts/trace.ts';
import { createExec } from '../kernel/exec.ts';
import { createLogger } from '../log.ts';
import { ipFamilyOf } from '../model/ip_family.ts';
import { formatProblem } from '../model/problem.ts';
import type { IPFamily, Protocol, ProxyState } from '../model/types.ts';
import { renderFamilies, traceFamily } from '../modes/dual_stack.ts';
import type { ModeDefinition, ProxierDeps } from '../modes/mode.ts';
import { loadMode } from '../modes/registry.ts';
import { ConfigFileError } from './config/config_error.ts';
import { loadConfigurationFile } from './config/load.ts';
import { resolveRun } from './config/precedence.ts';
import { parseDuration } from './duration.ts';
import { addPlanFlags, FlagError, iptablesBackend, type PlanFlags, planOptionsFromFlags } from './flags.ts';
import { addIgnoredFlags } from './ignored_flags.ts';
import { loadOnce } from './load_state.ts';
import type { RunFlags } from './run_flags.ts';
import { createSource, type SourceFlags } from './source_factory.ts';
import { kproxyVersion } from './version.ts';

interface CommonFlags extends PlanFlags, SourceFlags {
  /** `rules` and `trace`: the KubeProxyConfiguration `run` would be given. */
  readonly config?: string;
  readonly proxyMode: string;
  readonly logFormat: 'json' | 'text';
  readonly logLevel: string;
}

/** `--proxy-mode`, defaulting to iptables as kube-proxy's on Linux. */
function modeOption(): Option {
  return new Option('--proxy-mode <mode>', 'which proxy mode').choices([...PROXY_MODES]).default('iptables');
}

function sourceFlags(command: Command): Command {
  return command
    .option(
      '--manifests <path>',
      'a file or directory of Kubernetes YAML/JSON (Services, EndpointSlices, Endpoints); watched',
    )
    .option('--kubeconfig <file>', 'kubeconfig of the cluster whose Services to proxy')
    .option('--master <url>', 'the API server URL (overrides the kubeconfig)');
}

function logFlags(command: Command): Command {
  return command
    .addOption(new Option('--log-format <format>', 'log format').choices(['json', 'text']).default('json'))
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    );
}

function mode(flags: { proxyMode: string }): ProxyMode {
  if (!isProxyMode(flags.proxyMode)) throw new FlagError(`Invalid --proxy-mode: "${flags.proxyMode}"`);
  return flags.proxyMode;
}

/** What tests of {@link buildProgram} replace. */
export interface ProgramSeams {
  /** Loads a mode's definition (default: the registry's `loadMode`). */
  readonly loadMode?: ((mode: ProxyMode) => Promise<ModeDefinition>) | undefined;
}

/** An address flag in canonical form (IPv6 compressed, lower case), or a {@link FlagError} naming the flag. */
function canonicalAddress(text: string, flag: string): string {
  const family = isIP(text);
  // A zone (fe80::1%eth0) names a link, which no rule matches on.
  if (family === 0 || text.includes('%'))
    throw new FlagError(`Invalid ${flag}: "${text}" is not an IP address`);
  return family === 4 ? text : new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** Parses `IP:PORT[/proto]` (IPv6 as `[::1]:80`). */
export function parseDestination(text: string): { ip: string; port: number; protocol: Protocol } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(text.trim());
  const port = Number(m?.[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new FlagError(`Invalid --to: expected IP:PORT[/tcp|udp|sctp], got "${text}"`);
  }
  return { ip: m[1] ?? m[2] ?? '', port, protocol: (m[4]?.toUpperCase() ?? 'TCP') as Protocol };
}

/** `ip:port`, an IPv6 address in brackets. */
function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Renders a trace for people. */
export function formatTrace(packet: TracePacket, result: TraceResult): string {
  const lines = [
    `packet ${packet.source}${packet.inInterface === undefined ? '' : ` (in ${packet.inInterface})`} -> ${hostPort(packet.destination, packet.port)}/${packet.protocol.toLowerCase()}`,
    ...result.path.map((step) => `  ${step}`),
    `verdict: ${result.verdict}${result.masquerade ? ' (masqueraded)' : ''}`,
  ];
  for (const b of result.backends) lines.push(`  -> ${b.address}  ${(b.probability * 100).toFixed(1)}%`);
  return `${lines.join('\n')}\n`;
}

/**
 * Builds the program.
 *
 * @param io where output goes (tests pass buffers)
 * @param seams what tests replace: `loadMode` (default: the registry's), so that `rules` and `trace` can
 *   run on a fake mode
 * @returns the commander program
 * @example await buildProgram({ out, err }).parseAsync(['node', 'kproxy', 'rules', '--manifests', dir])
 */
export function buildProgram(
  io: { out: (s: string) => void; err: (s: string) => void },
  seams: ProgramSeams = {},
): Command {
  const modes = seams.loadMode ?? loadMode;
  const program = new Command('kproxy')
    .description(
      'kube-proxy rebuilt in TypeScript: makes Service VIPs reach their backends (userspace, iptables, ipvs, nftables)',
    )
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .version(`kproxy ${kproxyVersion()}`, '--version', 'print the version and exit');

  program
    .command('version')
    .description('print the version')
    .action(() => io.out(`kproxy ${kproxyVersion()}\n`));

  const run = program.command('run').description('run the proxy: watch the source and program the node');
  run
    .option(
      '--config <file>',
      "a KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) file, e.g. kubeadm's kube-proxy ConfigMap; its fields win over the flags that set them, except --hostname-override and --log-format (as kube-proxy)",
    )
    .option('--write-config-to <file>', 'write the effective configuration to this file and exit');
  sourceFlags(run);
  addPlanFlags(run);
  logFlags(run)
    .addOption(modeOption())
    .option(
      '--iptables-min-sync-period <duration>',
      'minimum time between syncs (iptables, nftables, userspace)',
      '1s',
    )
    .option(
      '--iptables-sync-period <duration>',
      'the periodic full resync (iptables, nftables, userspace)',
      '30s',
    )
    .option('--ipvs-min-sync-period <duration>', 'minimum time between syncs (ipvs)', '1s')
    .option('--ipvs-sync-period <duration>', 'the periodic full resync (ipvs)', '30s')
    .option(
      '--rules-check-period <duration>',
      "how often kproxy checks, between syncs, that its rules are still in the kernel (a canary, the jumps into its chains), repairing at once what someone removed; 0: only at syncs (kproxy's own)",
      '500ms',
    )
    .option(
      '--healthz-bind-address <host:port>',
      'health check server address (empty: none)',
      '0.0.0.0:10256',
    )
    .option(
      '--metrics-bind-address <host:port>',
      'Prometheus metrics server address (empty: none)',
      '127.0.0.1:10249',
    )
    .option('--cleanup', 'remove everything kproxy ever programs, then exit', false)
    .addOption(
      new Option('--logging-format <format>', "kube-proxy's spelling of --log-format").choices([
        'json',
        'text',
      ]),
    );
  addIgnoredFlags(run).action(async (flags: RunFlags, command: Command) => {
    const { runCommand } = await import('./run_command.ts');
    await runCommand(flags, io, { given: (key) => command.getOptionValueSource(key) === 'cli' });
  });

  const validate = program
    .command('validate')
    .description('check manifests: print every problem and a summary; exit 1 if there is any problem');
  sourceFlags(validate)
    .option('--hostname-override <name>', 'the node name (for locality in the summary)')
    .action(async (flags: SourceFlags & { hostnameOverride?: string }) => {
      if (flags.manifests === undefined) throw new FlagError('validate needs --manifests PATH');
      const logger = createLogger({ format: 'text', level: 'silent' });
      const source = await createSource({ manifests: flags.manifests }, { nodeName: '', logger });
      const { state, problems, services } = await loadOnce(source, flags.hostnameOverride ?? '');
      for (const p of problems) io.out(`${formatProblem(p)}\n`);
      let endpoints = 0;
      for (const port of state.servicePorts.values()) endpoints += port.allEndpoints.length;
      io.out(
        `${services} services, ${state.servicePorts.size} service ports, ${endpoints} endpoints, ${problems.length} errors\n`,
      );
      if (problems.length > 0) process.exitCode = 1;
    });

  const rules = program
    .command('rules')
    .description(
      "print the plan the mode would program, in the kernel tool's own restore format (no root needed)",
    );
  sourceFlags(rules);
  addPlanFlags(rules)
    .addOption(modeOption())
    .addOption(
      new Option(
        '--ip-family <family>',
        "one family's plan alone, exactly what its tool takes (iptables-restore or ip6tables-restore --test, nft -c -f); default: IPv4, then IPv6",
      ).choices(['IPv4', 'IPv6']),
    )
    .option('--config <file>', CONFIG_FOR_PLAN)
    .action(async (flags: CommonFlags & { ipFamily?: IPFamily }, command: Command) => {
      const { definition, state, options } = await loadPlanInputs(flags, io, command, modes);
      const family = flags.ipFamily;
      if (family !== undefined && !(definition.ipFamilies ?? ['IPv4']).includes(family))
        throw new FlagError(`Invalid --ip-family: the ${definition.name} mode does not plan ${family}`);
      io.out(renderFamilies(definition, state, options, family));
    });

  const trace = program
    .command('trace')
    .description('walk one packet through the plan: the path, the verdict and every backend it can reach');
  sourceFlags(trace);
  addPlanFlags(trace)
    .addOption(modeOption())
    .requiredOption('--from <ip>', 'source address of the packet (IPv4 or IPv6, as the destination)')
    .requiredOption('--to <ip:port[/proto]>', 'destination, e.g. 198.18.100.1:80/tcp or [2001:2::60]:80/tcp')
    .option(
      '--in-interface <name>',
      'the interface the packet comes in on (for --detect-local-mode BridgeInterface, InterfaceNamePrefix)',
    )
    .option('--json', 'print one JSON object', false)
    .option('--config <file>', CONFIG_FOR_PLAN)
    .action(
      async (
        flags: CommonFlags & { from: string; to: string; json: boolean; inInterface?: string },
        command: Command,
      ) => {
        const { definition, state, options } = await loadPlanInputs(flags, io, command, modes);
        const to = parseDestination(flags.to);
        const inInterface = flags.inInterface;
        if (inInterface !== undefined) {
          const problem = interfaceNameProblem(inInterface);
          if (problem !== undefined)
            throw new FlagError(`Invalid --in-interface: ${problem}, got ${JSON.stringify(inInterface)}`);
        }
        const from = canonicalAddress(flags.from, '--from');
        const destination = canonicalAddress(to.ip, '--to');
        if (ipFamilyOf(from) !== ipFamilyOf(destination)) {
          throw new FlagError(
            `Invalid --from: ${from} is ${ipFamilyOf(from)} and the destination ${destination} is ${ipFamilyOf(destination)}: a packet has one IP family`,
          );
        }
        const packet: TracePacket = {
          source: from,
          destination,
          port: to.port,
          protocol: to.protocol,
          ...(inInterface === undefined ? {} : { inInterface }),
        };
        const result = traceFamily(definition, state, options, packet);
        io.out(flags.json ? `${JSON.stringify(result)}\n` : formatTrace(packet, result));
      },
    );

  const cleanup = program
    .command('cleanup')
    .description(
      'remove everything kproxy ever programs (every mode): chains, jumps, ipsets, virtual servers',
    );
  logFlags(cleanup)
    .addOption(
      new Option('--iptables-backend <backend>', 'iptables backend')
        .choices(['auto', 'legacy', 'nft', 'all'])
        .default('all'),
    )
    .action(async (flags: { logFormat: 'json' | 'text'; logLevel: string; iptablesBackend: string }) => {
      const { cleanupAll } = await import('./run_command.ts');
      await cleanupAll(flags, io);
    });

  return program;
}

/** What `rules` and `trace` work on: the mode, the loaded state (problems go to stderr) and the options. */
const CONFIG_FOR_PLAN =
  'a KubeProxyConfiguration file, read as `run --config` reads it: what `run` would program with it';

async function loadPlanInputs(
  given: CommonFlags,
  io: { err: (s: string) => void },
  command: Command,
  modes: (mode: ProxyMode) => Promise<ModeDefinition>,
): Promise<{ definition: ModeDefinition; state: ProxyState; options: PlanOptions }> {
  let flags = given;
  if (given.config !== undefined) {
    // The same precedence as `run`: the file's fields win over the flags that set them.
    const file = await loadConfigurationFile(given.config);
    const resolved = resolveRun(
      given as unknown as RunFlags,
      (key) => command.getOptionValueSource(key) === 'cli',
      file,
    );
    for (const warning of resolved.warnings) io.err(`kproxy: configuration: ${warning}\n`);
    // resolveRun keeps every flag it does not own, as run uses them.
    flags = resolved.flags as unknown as CommonFlags;
  }
  const options = planOptionsFromFlags(flags, parseDuration);
  const definition = await modes(mode(flags));
  const { state, problems } = await loadOnce(
    await createSource(flags, quietContext(options.nodeName)),
    options.nodeName,
  );
  for (const p of problems) io.err(`${formatProblem(p)}\n`);
  return { definition, state, options };
}

function quietContext(nodeName: string) {
  return { nodeName, logger: createLogger({ format: 'text', level: 'silent' }), recordEvents: false };
}

/** The deps a mode's cleanup/checkHost needs, outside a running daemon. */
export function standaloneDeps(
  flags: PlanFlags & { logFormat: 'json' | 'text'; logLevel: string },
): ProxierDeps {
  return {
    options: planOptionsFromFlags(flags, parseDuration),
    exec: createExec(),
    logger: createLogger({ format: flags.logFormat, level: flags.logLevel }),
    iptablesBackend: iptablesBackend(flags),
  };
}

/**
 * Runs the CLI.
 *
 * @param argv process.argv
 * @returns the exit code
 */
export async function main(argv: readonly string[]): Promise<number> {
  const io = {
    out: (s: string) => void process.stdout.write(s),
    err: (s: string) => void process.stderr.write(s),
  };
  const program = buildProgram(io);
  program.exitOverride();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    const e = error as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : (e.exitCode ?? 2);
    }
    io.err(`kproxy: ${e.message ?? String(error)}\n`);
    return error instanceof FlagError || error instanceof ConfigFileError ? 2 : 1;
  }
}
