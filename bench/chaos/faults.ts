/**
 * How each fault of the catalogue (schedule.ts) is injected into a running chaos lab. Every injection is
 * bounded by its phase length and touches only the lab's own namespaces, files and processes.
 *
 * @module
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { ExecResult } from '../../src/kernel/exec.ts';
import type { KproxyProcess } from '../../src/lab/kproxy_daemon.ts';
import type { Lab, LabProcess } from '../../src/lab/lab.ts';
import { applyMutation, arbMutation, arbRawCluster } from '../../src/model/testing/arbitraries.ts';
import { BenchError } from '../tools/bench_error.ts';
import { type ChaosEndpoint, churnManifest, DEFAULT_CHURN } from './manifests.ts';
import type { ChaosMode, FaultName, PhaseTimes } from './schedule.ts';

/** What a fault may do to a running lab. */
export interface FaultContext {
  readonly lab: Lab;
  readonly mode: ChaosMode;
  /** kproxy's watched manifests directory. */
  readonly dir: string;
  readonly times: PhaseTimes;
  /** The iptables binary of kproxy's backend (`iptables-legacy` or `iptables-nft`). */
  readonly iptables: string;
  /** The kproxy running now. */
  kproxy(): KproxyProcess;
  /** Starts a new kproxy (the old one must be gone) and waits for its first sync. */
  restartKproxy(): Promise<void>;
  /** The probed service's endpoints now. */
  endpoints(): readonly ChaosEndpoint[];
  /** Writes the probed service with these endpoints (to the manifests, or to the API server). */
  setEndpoints(endpoints: readonly ChaosEndpoint[]): Promise<void>;
  /** Makes the API server go away (`down`) or come back (`up`); only with the API server source. */
  apiServer(state: 'down' | 'up'): Promise<void>;
  /** Runs a command in the node namespace. */
  nodeExec(argv: readonly string[]): Promise<ExecResult>;
  /** Something worth saying in the report about this run. */
  note(text: string): void;
  /** Records when a step of the fault happened (the report shows it relative to the fault's start). */
  mark(step: string): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function mustNode(ctx: FaultContext, argv: readonly string[]): Promise<void> {
  const r = await ctx.nodeExec(argv);
  if (r.code !== 0) throw new BenchError(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

/** Writes a file by rename, so that the watcher never reads half of it. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/**
 * Injects a fault and returns when its own phase is over (the caller then lets the lab settle).
 *
 * @param fault which fault
 * @param ctx the running lab
 * @returns when the fault's phase ended
 * @example await injectFault('kill9', ctx)
 */
export async function injectFault(fault: FaultName, ctx: FaultContext): Promise<void> {
  switch (fault) {
    case 'kill9': {
      const k = ctx.kproxy();
      k.child.kill('SIGKILL');
      await k.exited;
      await ctx.restartKproxy();
      return;
    }
    case 'sigterm':
      await ctx.kproxy().stop();
      await ctx.restartKproxy();
      return;
    case 'rolling-update':
      return rollingUpdate(ctx);
    case 'backend-dies': {
      const pod = ctx.lab.pods[2]!;
      await ctx.lab.stopServer(pod);
      await sleep(ctx.times.faultMs);
      // Its restart is part of the outage (slow in the emulated guest): say how long it took.
      const restarting = Date.now();
      await ctx.lab.startServer(pod);
      ctx.mark(`${pod.name} server back`);
      ctx.note(
        `${pod.name}'s server was down ${ctx.times.faultMs} ms, then took ${Date.now() - restarting} ms to start again`,
      );
      return;
    }
    case 'flush-rules':
      switch (ctx.mode) {
        case 'nftables':
          return mustNode(ctx, ['nft', 'flush', 'chain', 'ip', 'kube-proxy', 'services']);
        case 'userspace':
          return mustNode(ctx, [ctx.iptables, '-w', '5', '-t', 'nat', '-F', 'KUBE-PORTALS-CONTAINER']);
        case 'ipvs':
          // Its KUBE-SERVICES holds only masquerade marks; what a client needs is the VIP being local.
          return mustNode(ctx, ['ip', 'addr', 'flush', 'dev', 'kube-ipvs0']);
        default:
          return mustNode(ctx, [ctx.iptables, '-w', '5', '-t', 'nat', '-F', 'KUBE-SERVICES']);
      }
    case 'wipe-table':
      if (ctx.mode === 'nftables') return mustNode(ctx, ['nft', 'delete', 'table', 'ip', 'kube-proxy']);
      // The ipvs mode's own table is the kernel's IPVS table: every virtual server goes.
      if (ctx.mode === 'ipvs') return mustNode(ctx, ['ipvsadm', '--clear']);
      // One restore without --noflush: every nat chain flushed and every user chain deleted in one commit
      // (`-F` then `-X` races with a kproxy that puts a jump back in between).
      return mustNode(ctx, ['sh', '-c', `printf '*nat\\nCOMMIT\\n' | ${ctx.iptables}-restore -w 5`]);
    case 'xtables-lock':
      return holdXtablesLock(ctx);
    case 'api-outage': {
      await ctx.apiServer('down');
      // The change the API server comes back with: pod0 gone (its server stays up, so traffic sent to it
      // by stale rules would still work; what matters is that kproxy catches up).
      await ctx.setEndpoints(ctx.endpoints().map((e, i) => (i === 0 ? { ...e, phase: 'removed' } : e)));
      await sleep(ctx.times.faultMs);
      await ctx.apiServer('up');
      ctx.mark('api server back');
      return;
    }
    case 'endpoint-churn':
      return churn(ctx);
    case 'fuzz-manifests':
      return fuzz(ctx);
    default: {
      const never: never = fault;
      throw new BenchError(`Unknown fault ${String(never)}`);
    }
  }
}

async function rollingUpdate(ctx: FaultContext): Promise<void> {
  const step = Math.max(1, Math.floor(ctx.times.faultMs));
  const with0 = (phase: ChaosEndpoint['phase']) =>
    ctx.endpoints().map((e, i) => (i === 0 ? { ...e, phase } : e));
  await ctx.setEndpoints(with0('terminating'));
  await sleep(step);
  await ctx.setEndpoints(with0('removed'));
  ctx.mark('pod0 removed');
  await sleep(step);
  await ctx.lab.stopServer(ctx.lab.pods[0]!);
  ctx.mark('pod0 server killed');
}

async function holdXtablesLock(ctx: FaultContext): Promise<void> {
  // kproxy runs in a private mount namespace with its own /run (see chaos_lab.ts): enter that one, so
  // the lock held is the one kproxy sees and never the host's.
  const pid = ctx.kproxy().child.pid;
  if (pid === undefined) throw new BenchError('kproxy has no pid');
  const holdSeconds = String(Math.max(1, Math.round(ctx.times.faultMs / 1000)));
  const holder: LabProcess = ctx.lab.spawn(ctx.lab.node.ns, [
    'nsenter',
    '--target',
    String(pid),
    '--mount',
    // Entering a mount namespace also moves the root to that namespace's: in the qemu guest, whose
    // programs run chrooted into the host's files, that root has no `timeout` (exit 127). Keep kproxy's.
    '--root',
    '--',
    'timeout',
    String(Number(holdSeconds) + 5),
    'flock',
    '--wait',
    '5',
    '/run/xtables.lock',
    'sh',
    '-c',
    `echo held; sleep ${holdSeconds}`,
  ]);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    holder.child.stdout?.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('held')) resolve();
    });
    void holder.exited.then((code) =>
      reject(new BenchError(`The lock holder exited (${code}) before it held the lock`)),
    );
  });
  ctx.mark('lock held');
  // A change while the lock is held: kproxy's next sync must wait for the lock (or fail and retry).
  await ctx.setEndpoints(ctx.endpoints().map((e, i) => (i === 1 ? { ...e, phase: 'removed' } : e)));
  const code = await holder.exited;
  ctx.mark('lock released');
  if (code !== 0) ctx.note(`the lock holder ended with ${code}`);
  await ctx.setEndpoints(ctx.endpoints().map((e, i) => (i === 1 ? { ...e, phase: 'ready' } : e)));
}

async function churn(ctx: FaultContext): Promise<void> {
  const stepMs = 200;
  const file = join(ctx.dir, 'churn.yaml');
  const end = Date.now() + ctx.times.faultMs;
  let step = 0;
  while (Date.now() < end) {
    const next = Date.now() + stepMs;
    await writeAtomically(file, churnManifest(DEFAULT_CHURN, step));
    step++;
    await sleep(Math.max(0, next - Date.now()));
  }
  ctx.note(
    `${step} churn steps written (${(step - 1) * DEFAULT_CHURN.replacedPerStep * 2} endpoint changes)`,
  );
}

/** The seed of the fuzzed manifests (the run is reproducible). */
const FUZZ_SEED = 1717;

async function fuzz(ctx: FaultContext): Promise<void> {
  const stepMs = 250;
  const file = join(ctx.dir, 'fuzz.yaml');
  const end = Date.now() + ctx.times.faultMs;
  const clusters = fc.sample(arbRawCluster({ maxServices: 4 }), { seed: FUZZ_SEED, numRuns: 400 });
  const mutations = fc.sample(arbMutation(), { seed: FUZZ_SEED, numRuns: 4000 });
  let step = 0;
  let m = 0;
  while (Date.now() < end) {
    const next = Date.now() + stepMs;
    const cluster = clusters[step % clusters.length]!;
    let text: string;
    if (step % 5 === 4) {
      text = `kind: Service\nmetadata: [\n  ${'{'.repeat(step % 7)} not yaml at all ${step}\n`;
    } else {
      const objects = [...cluster.services, ...cluster.slices].map((o, i) =>
        i % 2 === 0 ? applyMutation(o, mutations[m++ % mutations.length]!) : o,
      );
      text = objects.map((o) => stringify(o)).join('---\n');
    }
    // Written in place (not renamed): a watcher that reads a half-written file must cope too.
    await writeFile(file, text);
    step++;
    await sleep(Math.max(0, next - Date.now()));
  }
  ctx.note(`${step} fuzzed manifest files written`);
}
