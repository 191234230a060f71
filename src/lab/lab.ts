/**
 * Network-namespace topologies for integration tests, benchmarks and `kproxy lab`: a node namespace,
 * client namespaces and backend "pod" namespaces, each joined to the node by a veth pair (no bridge); the
 * node routes between them. Pods run identity servers (identity_server.ts) that answer with their name.
 *
 * ```
 *  client0 (eth0 198.18.1.2/24) ── kc0 198.18.1.1 ┐
 *  client1 (eth0 198.18.2.2/24) ── kc1 198.18.2.1 ├─ node (lo 198.18.0.1/32, ip_forward=1)
 *  pod0    (eth0 198.18.101.2/24) ─ kp0 198.18.101.1 ┤
 *  pod1    (eth0 198.18.102.2/24) ─ kp1 198.18.102.1 ┘
 * ```
 * Clients and pods route everything through the node, so service VIPs (use 198.19.0.0/16, see
 * {@link LAB_VIP_PREFIX}) reach the node, where the proxy under test handles them.
 *
 * Every lab is dual-stack: each host also has an IPv6 address from the benchmarking range 2001:2::/48
 * (client i: `2001:2:0:c<i>::2/64`, pod i: `2001:2:0:d<i>::2/64`, i in hex; the node's side `::1`, the
 * node itself `2001:2::1/128` on lo), IPv6 forwarding is on, and IPv6 VIPs come from
 * {@link LAB_VIP6_PREFIX} (`2001:2:0:f::/64`). Addresses are added without duplicate address detection, so
 * they work at once. Identity servers listen on `::` (IPv4 and IPv6).
 *
 * Safety: every name starts with `kpt-` and is unique per process and lab; nothing is created in the root
 * namespace (links are created inside the node namespace, their peers directly in the other one);
 * {@link Lab.destroy} always removes every namespace and every process in them, and a process-exit safety
 * net does the same if a test forgets or crashes.
 *
 * @example
 * const lab = await createLab({ tag: 'rr', clients: 1, pods: 3 });
 * try {
 *   const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', `http://${lab.pods[0]!.ip}:8080/`]);
 * } finally {
 *   await lab.destroy();
 * }
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createExec, type ExecOptions, type ExecResult, mustExec } from '../kernel/exec.ts';
import { LabError } from './lab_error.ts';
import { nodeModuleArgv } from './node_child.ts';
import { destroyNamespacesSync, registerForExit } from './safety_net.ts';

/** Service VIPs in a lab come from here (198.19.0.0/16): routed to the node, assigned nowhere. */
export const LAB_VIP_PREFIX = '198.19.';

/** IPv6 service VIPs in a lab come from here (2001:2:0:f::/64): routed to the node, assigned nowhere. */
export const LAB_VIP6_PREFIX = '2001:2:0:f::';

/** Ports the identity servers listen on in every pod; 0 disables that listener. */
export interface LabServerPorts {
  readonly http: number;
  readonly banner: number;
  readonly udp: number;
}

/** The default identity-server ports. */
export const DEFAULT_LAB_PORTS: LabServerPorts = { http: 8080, banner: 9000, udp: 9000 };

/** What to build. */
export interface LabOptions {
  /** A short purpose tag, 1-6 of [a-z0-9], part of every namespace name. */
  readonly tag: string;
  /** Client namespaces (default 1, at most 50). */
  readonly clients?: number | undefined;
  /** Backend pod namespaces (default 3, at most 100). */
  readonly pods?: number | undefined;
  /** Identity-server ports, or false for pods without servers. Default {@link DEFAULT_LAB_PORTS}. */
  readonly servers?: LabServerPorts | false | undefined;
  /**
   * How long each identity server may take to start, in ms (default {@link DEFAULT_LAB_START_TIMEOUT_MS}).
   * Raise it where Node itself starts slowly: in the emulated qemu guest one server (Node with the tsx
   * loader) takes about 3.5 s of CPU, and the lab starts all of them at once.
   */
  readonly startTimeoutMs?: number | undefined;
}

/** How long each identity server may take to start by default (ms). */
export const DEFAULT_LAB_START_TIMEOUT_MS = 15_000;

/** The node namespace: where the proxy under test runs. */
export interface LabNode {
  readonly ns: string;
  /** The node's own address (on its loopback), reachable from every client and pod. */
  readonly ip: string;
  /** The node's own IPv6 address (on its loopback). */
  readonly ip6: string;
  /** Every IPv4 address of the node: {@link ip} first, then the client- and pod-facing ones. */
  readonly addresses: readonly string[];
  /** Every IPv6 address of the node: {@link ip6} first, then the client- and pod-facing ones. */
  readonly addresses6: readonly string[];
}

/** A client or pod namespace. */
export interface LabHost {
  /** `client0`, `pod1`, ... (a pod's identity server answers with this name). */
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  /** The node's address on this host's link. */
  readonly gateway: string;
  /** This host's IPv6 address. */
  readonly ip6: string;
  /** The node's IPv6 address on this host's link. */
  readonly gateway6: string;
}

/** A process started in a lab namespace; killed by {@link Lab.destroy} at the latest. */
export interface LabProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process is gone. */
  readonly exited: Promise<number | string>;
  kill(): Promise<void>;
}

/** A built topology. */
export interface Lab {
  /** The common prefix of every namespace of this lab, e.g. `kpt-rr-4242-1`. */
  readonly id: string;
  readonly node: LabNode;
  readonly clients: readonly LabHost[];
  readonly pods: readonly LabHost[];
  readonly ports: LabServerPorts | false;
  /** Every namespace of this lab. */
  readonly namespaces: readonly string[];
  /** Runs a command to completion inside one of this lab's namespaces (no shell). */
  exec(ns: string, argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running command inside one of this lab's namespaces. */
  spawn(ns: string, argv: readonly string[]): LabProcess;
  /** Starts one of kproxy's own modules as a Node program inside one of this lab's namespaces. */
  spawnNode(ns: string, moduleUrl: string, args: readonly string[]): LabProcess;
  /** Runs one of kproxy's own modules to completion inside a namespace. */
  runNode(ns: string, moduleUrl: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Kills a pod's identity server (SIGKILL): its ports then refuse connections. */
  stopServer(pod: LabHost): Promise<void>;
  /** (Re)starts a pod's identity server and waits until it listens. */
  startServer(pod: LabHost): Promise<void>;
  /** Kills every process in the lab and deletes every namespace. Idempotent; never throws. */
  destroy(): Promise<void>;
}

const TAG = /^[a-z0-9]{1,6}$/;
let labSequence = 0;

/**
 * Builds a lab. On any failure while building, everything created so far is removed before it throws.
 *
 * @param options tag, number of clients and pods, server ports, start-up timeout
 * @returns the lab, with identity servers listening in every pod
 * @throws {LabError} bad options, or a command failed (the cause says which)
 * @example const lab = await createLab({ tag: 'demo', clients: 2, pods: 3 })
 */
export async function createLab(options: LabOptions): Promise<Lab> {
  const clientCount = options.clients ?? 1;
  const podCount = options.pods ?? 3;
  if (!TAG.test(options.tag))
    throw new LabError(`Bad lab tag: ${JSON.stringify(options.tag)} (1-6 of [a-z0-9])`);
  if (!Number.isInteger(clientCount) || clientCount < 0 || clientCount > 50) {
    throw new LabError(`Bad number of lab clients: ${clientCount} (0-50)`);
  }
  if (!Number.isInteger(podCount) || podCount < 0 || podCount > 100) {
    throw new LabError(`Bad number of lab pods: ${podCount} (0-100)`);
  }
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_LAB_START_TIMEOUT_MS;
  if (!Number.isFinite(startTimeoutMs) || startTimeoutMs <= 0) {
    throw new LabError(`Bad lab start-up timeout: ${startTimeoutMs} ms (more than 0)`);
  }
  const existing = new Set(
    (await run(['netns', 'list'])).split('\n').map((line) => line.split(' ')[0] ?? ''),
  );
  let id: string;
  do {
    labSequence += 1;
    id = `kpt-${options.tag}-${process.pid % 10000}-${labSequence}`;
  } while (existing.has(`${id}-n`));
  const lab = new NamespaceLab(
    id,
    clientCount,
    podCount,
    options.servers ?? DEFAULT_LAB_PORTS,
    startTimeoutMs,
  );
  try {
    await lab.build();
  } catch (error) {
    await lab.destroy();
    throw error instanceof LabError
      ? error
      : new LabError(`Cannot build lab ${id}: ${String(error)}`, { cause: error });
  }
  return lab;
}

async function run(args: readonly string[], input?: string): Promise<string> {
  return (await mustExec(createExec(), 'ip', args, { input })).stdout;
}

class NamespaceLab implements Lab {
  readonly node: LabNode;
  readonly clients: LabHost[];
  readonly pods: LabHost[];
  readonly namespaces: string[];
  readonly #processes = new Set<LabProcess>();
  readonly #servers = new Map<string, LabProcess>();
  #destroyed: Promise<void> | undefined;
  #unregister: () => void;

  constructor(
    readonly id: string,
    clientCount: number,
    podCount: number,
    readonly ports: LabServerPorts | false,
    private readonly startTimeoutMs: number,
  ) {
    this.clients = Array.from({ length: clientCount }, (_, i) => ({
      name: `client${i}`,
      ns: `${id}-c${i}`,
      ip: `198.18.${1 + i}.2`,
      gateway: `198.18.${1 + i}.1`,
      ip6: `2001:2:0:c${i.toString(16)}::2`,
      gateway6: `2001:2:0:c${i.toString(16)}::1`,
    }));
    this.pods = Array.from({ length: podCount }, (_, i) => ({
      name: `pod${i}`,
      ns: `${id}-p${i}`,
      ip: `198.18.${101 + i}.2`,
      gateway: `198.18.${101 + i}.1`,
      ip6: `2001:2:0:d${i.toString(16)}::2`,
      gateway6: `2001:2:0:d${i.toString(16)}::1`,
    }));
    this.node = {
      ns: `${id}-n`,
      ip: '198.18.0.1',
      ip6: '2001:2::1',
      addresses: ['198.18.0.1', ...this.clients.map((c) => c.gateway), ...this.pods.map((p) => p.gateway)],
      addresses6: ['2001:2::1', ...this.clients.map((c) => c.gateway6), ...this.pods.map((p) => p.gateway6)],
    };
    this.namespaces = [this.node.ns, ...this.clients.map((c) => c.ns), ...this.pods.map((p) => p.ns)];
    // Registered before anything exists, so that a crash half-way through building still cleans up.
    this.#unregister = registerForExit(this);
  }

  async build(): Promise<void> {
    for (const ns of this.namespaces) await run(['netns', 'add', ns]);
    const node = this.node.ns;
    // The node's own address sits on its loopback (no dummy driver needed), like a host's service address.
    // The VIP range is routed on the node too (as a real host's default route would), so that processes on
    // the node reach VIPs through the OUTPUT chain; a packet no rule claims dies on lo (no forwarding there).
    const nodeBatch = [
      'link set lo up',
      `addr add ${this.node.ip}/32 dev lo`,
      `route add ${LAB_VIP_PREFIX}0.0/16 dev lo src ${this.node.ip}`,
      `addr add ${this.node.ip6}/128 dev lo nodad`,
      `route add ${LAB_VIP6_PREFIX}/64 dev lo src ${this.node.ip6}`,
    ];
    const links = [
      ...this.clients.map((host, i) => ({ host, link: `kc${i}` })),
      ...this.pods.map((host, i) => ({ host, link: `kp${i}` })),
    ];
    for (const { host, link } of links) {
      // Created inside the node namespace, the peer directly inside the host's: the root namespace never
      // sees either end.
      nodeBatch.push(
        `link add ${link} type veth peer name eth0 netns ${host.ns}`,
        `addr add ${host.gateway}/24 dev ${link}`,
        `addr add ${host.gateway6}/64 dev ${link} nodad`,
        `link set ${link} up`,
      );
    }
    await run(['-n', node, '-batch', '-'], `${nodeBatch.join('\n')}\n`);
    await this.exec(node, [
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.lo.forwarding=0',
      'net.ipv6.conf.all.forwarding=1',
    ]);
    await Promise.all(
      links.map(({ host }) =>
        run(
          ['-n', host.ns, '-batch', '-'],
          [
            'link set lo up',
            `addr add ${host.ip}/24 dev eth0`,
            `addr add ${host.ip6}/64 dev eth0 nodad`,
            'link set eth0 up',
            `route add default via ${host.gateway}`,
            `route add default via ${host.gateway6}`,
          ]
            .map((line) => `${line}\n`)
            .join(''),
        ),
      ),
    );
    if (this.ports !== false) await Promise.all(this.pods.map((pod) => this.startServer(pod)));
  }

  #check(ns: string): void {
    if (!this.namespaces.includes(ns)) throw new LabError(`Not a namespace of lab ${this.id}: ${ns}`);
    if (this.#destroyed !== undefined) throw new LabError(`Lab ${this.id} is destroyed: cannot use ${ns}`);
  }

  async exec(ns: string, argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    this.#check(ns);
    const [command, ...args] = argv;
    if (command === undefined) throw new LabError('Empty command');
    return createExec({ netns: ns })(command, args, options);
  }

  spawn(ns: string, argv: readonly string[]): LabProcess {
    this.#check(ns);
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
      child.once('error', () => resolve(-1));
    });
    const proc: LabProcess = {
      child,
      exited,
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
    this.#processes.add(proc);
    void exited.then(() => this.#processes.delete(proc));
    return proc;
  }

  spawnNode(ns: string, moduleUrl: string, args: readonly string[]): LabProcess {
    return this.spawn(ns, nodeModuleArgv(moduleUrl, args));
  }

  runNode(
    ns: string,
    moduleUrl: string,
    args: readonly string[],
    options?: ExecOptions,
  ): Promise<ExecResult> {
    return this.exec(ns, nodeModuleArgv(moduleUrl, args), options);
  }

  async stopServer(pod: LabHost): Promise<void> {
    const server = this.#servers.get(pod.name);
    this.#servers.delete(pod.name);
    await server?.kill();
  }

  async startServer(pod: LabHost): Promise<void> {
    if (this.ports === false) throw new LabError(`Lab ${this.id} has no identity servers`);
    await this.stopServer(pod);
    const server = this.spawnNode(pod.ns, new URL('./identity_server.ts', import.meta.url).href, [
      '--name',
      pod.name,
      '--host',
      '::',
      '--http-port',
      String(this.ports.http),
      '--banner-port',
      String(this.ports.banner),
      '--udp-port',
      String(this.ports.udp),
    ]);
    this.#servers.set(pod.name, server);
    await waitForReady(server, this.startTimeoutMs, `identity server of ${pod.name} in ${pod.ns}`);
  }

  destroy(): Promise<void> {
    this.#destroyed ??= this.#destroy();
    return this.#destroyed;
  }

  async #destroy(): Promise<void> {
    try {
      await Promise.all([...this.#processes].map((proc) => proc.kill()));
    } finally {
      // Also whatever a test started by other means inside our namespaces: a namespace lives on as long as
      // a process uses it.
      try {
        this.destroySync();
      } catch {
        /* destroy never throws: the exit safety net tries again */
      }
    }
  }

  destroySync(): void {
    for (const proc of this.#processes) proc.child.kill('SIGKILL');
    destroyNamespacesSync(this.namespaces);
    this.#unregister();
  }
}

async function waitForReady(proc: LabProcess, timeoutMs: number, what: string): Promise<void> {
  const { child } = proc;
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString('utf8');
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('ready\n')) resolve();
    });
    void proc.exited.then((code) => reject(new LabError(`The ${what} exited (${code}): ${err.trim()}`)));
  });
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    await Promise.race([
      ready,
      once(timeout, 'abort').then(() =>
        Promise.reject(new LabError(`The ${what} did not start within ${timeoutMs} ms: ${err.trim()}`)),
      ),
    ]);
  } catch (error) {
    await proc.kill();
    throw error;
  }
}
