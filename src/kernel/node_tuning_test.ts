// Node tuning (`--conntrack-*`, `--oom-score-adj`): the pure plan as a table of upstream's rules, and the
// applier against the strict fake seam (no file of this host is read or written).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { KernelError } from './exec.ts';
import {
  CONNTRACK_HASHSIZE,
  CONNTRACK_MAX,
  CONNTRACK_TCP_BE_LIBERAL,
  CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
  CONNTRACK_TCP_TIMEOUT_ESTABLISHED,
  CONNTRACK_UDP_TIMEOUT,
  CONNTRACK_UDP_TIMEOUT_STREAM,
  isReadOnlyFileSystem,
  type NodeTuningFile,
  OOM_SCORE_ADJ,
} from './node_sysctls.ts';
import { applyNodeTuning } from './node_tuning.ts';
import {
  type ConntrackSettings,
  conntrackMax,
  type NodeTuningSettings,
  nodeTuningReads,
  planNodeTuning,
} from './node_tuning_plan.ts';
import { FakeNodeSysctls, type FakeNodeSysctlsOptions } from './testing/node_sysctls_fake.ts';

const HOUR = 3_600_000;

/** kube-proxy's defaults (v1alpha1): what `kproxy run` tunes when told nothing. */
const DEFAULTS: NodeTuningSettings = {
  conntrack: {
    maxPerCore: 32768,
    min: 131072,
    tcpEstablishedTimeout: 24 * HOUR,
    tcpCloseWaitTimeout: HOUR,
    tcpBeLiberal: false,
    udpTimeout: 0,
    udpStreamTimeout: 0,
  },
  oomScoreAdj: -999,
};

function settings(
  conntrack: Partial<ConntrackSettings>,
  oomScoreAdj: number | null = null,
): NodeTuningSettings {
  return { conntrack: { ...DEFAULTS.conntrack, ...conntrack }, oomScoreAdj };
}

/** Collects log records as `level message`. */
function recordingLogger() {
  const lines: { level: string; msg: string; err?: unknown }[] = [];
  const levels: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' };
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const record = JSON.parse(line) as { level: number; msg: string; err?: unknown };
        lines.push({ level: levels[record.level] ?? String(record.level), msg: record.msg, err: record.err });
      },
    },
  );
  return { logger, lines };
}

const short = (file: NodeTuningFile) => file.split('/').at(-1);

describe('conntrackMax (upstream getConntrackMax)', () => {
  const cases: [string, Partial<ConntrackSettings>, number, number][] = [
    ['per core wins on a large node', { maxPerCore: 32768, min: 131072 }, 8, 262144],
    ['min wins on a small node', { maxPerCore: 32768, min: 131072 }, 2, 131072],
    ['maxPerCore 0 leaves it alone, whatever min says', { maxPerCore: 0, min: 131072 }, 8, 0],
    ['maxPerCore unset leaves it alone', { maxPerCore: null, min: 131072 }, 8, 0],
    ['min unset is no floor', { maxPerCore: 1000, min: null }, 3, 3000],
    ['min 0 is no floor', { maxPerCore: 1000, min: 0 }, 3, 3000],
  ];
  for (const [name, conntrack, cpus, want] of cases) {
    it(name, () => assert.equal(conntrackMax(settings(conntrack).conntrack, cpus), want));
  }
});

describe('planNodeTuning', () => {
  const fresh = new Map<NodeTuningFile, number>([
    [CONNTRACK_MAX, 65536],
    [CONNTRACK_HASHSIZE, 16384],
    [CONNTRACK_TCP_TIMEOUT_ESTABLISHED, 432000],
    [CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT, 60],
    [CONNTRACK_TCP_BE_LIBERAL, 0],
    [CONNTRACK_UDP_TIMEOUT, 30],
    [CONNTRACK_UDP_TIMEOUT_STREAM, 120],
    [OOM_SCORE_ADJ, 0],
  ]);
  const plan = (s: NodeTuningSettings, current = fresh, cpus = 4) =>
    planNodeTuning(s, current, cpus).map((w) => `${short(w.file)}=${w.value}`);

  it("kube-proxy's defaults on a fresh 4-CPU host: max, hashsize = max/4, the two TCP timeouts, the OOM score", () => {
    assert.deepEqual(plan(DEFAULTS), [
      'nf_conntrack_max=131072',
      'hashsize=32768',
      'nf_conntrack_tcp_timeout_established=86400',
      'nf_conntrack_tcp_timeout_close_wait=3600',
      'oom_score_adj=-999',
    ]);
  });

  it('only raises nf_conntrack_max, and hashsize only when it holds less than max/4', () => {
    const big = new Map(fresh).set(CONNTRACK_MAX, 1_000_000).set(CONNTRACK_HASHSIZE, 262144);
    assert.deepEqual(plan(settings({}), big), [
      'nf_conntrack_tcp_timeout_established=86400',
      'nf_conntrack_tcp_timeout_close_wait=3600',
    ]);
    // A larger max than the table's buckets allow: the buckets follow even when max needs no change.
    const fewBuckets = new Map(fresh).set(CONNTRACK_MAX, 1_000_000).set(CONNTRACK_HASHSIZE, 1024);
    assert.deepEqual(plan(settings({ tcpEstablishedTimeout: null, tcpCloseWaitTimeout: null }), fewBuckets), [
      'hashsize=32768',
    ]);
  });

  it('0 (or unset) means leave as it is: nothing planned, nothing to read', () => {
    const zero = settings({
      maxPerCore: 0,
      tcpEstablishedTimeout: 0,
      tcpCloseWaitTimeout: null,
      tcpBeLiberal: false,
      udpTimeout: 0,
      udpStreamTimeout: 0,
    });
    assert.deepEqual(plan(zero), []);
    assert.deepEqual(nodeTuningReads(zero, 4), []);
  });

  it('sets be_liberal and the UDP timeouts when asked, in whole seconds, only when different', () => {
    const s = settings(
      { maxPerCore: 0, tcpBeLiberal: true, udpTimeout: 10_500, udpStreamTimeout: 120_000 },
      null,
    );
    assert.deepEqual(plan(s), [
      'nf_conntrack_tcp_timeout_established=86400',
      'nf_conntrack_tcp_timeout_close_wait=3600',
      'nf_conntrack_tcp_be_liberal=1',
      'nf_conntrack_udp_timeout=10',
    ]);
    // A sub-second duration is 0 seconds: left as it is (upstream's integer division).
    assert.deepEqual(
      plan(
        settings({ maxPerCore: 0, udpTimeout: 500 }),
        new Map(fresh)
          .set(CONNTRACK_TCP_TIMEOUT_ESTABLISHED, 86400)
          .set(CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT, 3600),
      ),
      [],
    );
  });

  it('writes what it could not read (upstream: an unreadable sysctl reads as 0)', () => {
    assert.deepEqual(plan(settings({ tcpCloseWaitTimeout: null }), new Map()), [
      'nf_conntrack_max=131072',
      'hashsize=32768',
      'nf_conntrack_tcp_timeout_established=86400',
    ]);
  });

  it('reads hashsize as required, the rest as optional', () => {
    assert.deepEqual(
      nodeTuningReads(DEFAULTS, 4).map((r) => `${short(r.file)}${r.required ? '!' : ''}`),
      [
        'nf_conntrack_max',
        'hashsize!',
        'nf_conntrack_tcp_timeout_established',
        'nf_conntrack_tcp_timeout_close_wait',
        'oom_score_adj',
      ],
    );
  });
});

describe('applyNodeTuning against the strict fake', () => {
  async function apply(host: FakeNodeSysctlsOptions, s: NodeTuningSettings = DEFAULTS, strict = true) {
    const fake = new FakeNodeSysctls(host);
    const { logger, lines } = recordingLogger();
    const run = applyNodeTuning(fake, s, { logger, strict });
    return { fake, lines, run };
  }

  it("writes kube-proxy's defaults on a fresh host, then nothing on a second start", async () => {
    const { fake, lines, run } = await apply({ cpus: 8 });
    const result = await run;
    assert.deepEqual(
      fake.writes.map((w) => w.replace(/^.*\//, '')),
      [
        'nf_conntrack_max=262144',
        'hashsize=65536',
        'nf_conntrack_tcp_timeout_established=86400',
        'nf_conntrack_tcp_timeout_close_wait=3600',
        'oom_score_adj=-999',
      ],
    );
    assert.equal(result.failed.length, 0);
    assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'Set sysctl'));
    fake.writes.length = 0;
    const { logger } = recordingLogger();
    await applyNodeTuning(fake, DEFAULTS, { logger, strict: true });
    assert.deepEqual(fake.writes, []);
  });

  it('a read-only /sys keeps hashsize with a warning, not an error (upstream: node event)', async () => {
    const { fake, lines, run } = await apply({ readOnlySys: true });
    const result = await run;
    assert.deepEqual(
      result.failed.map((w) => short(w.file)),
      ['hashsize'],
    );
    assert.ok(
      fake.writes.some((w) => w.endsWith('nf_conntrack_tcp_timeout_close_wait=3600')),
      'went on',
    );
    assert.ok(lines.some((l) => l.level === 'warn' && /\/sys is read-only/.test(l.msg)));
  });

  it('in a network namespace of its own: a max to raise is refused, and that is fatal, as upstream', async () => {
    const { fake, run } = await apply({ initialNamespace: false });
    await assert.rejects(run, (error: unknown) => {
      assert.ok(error instanceof KernelError);
      assert.match(error.message, /write \/proc\/sys\/net\/netfilter\/nf_conntrack_max 131072.*EACCES/);
      return true;
    });
    assert.deepEqual(fake.writes, []);
    // With maxPerCore 0 (kind's setting for this case) the per-namespace sysctls are set.
    const { fake: ns, run: ok } = await apply({ initialNamespace: false }, settings({ maxPerCore: 0 }));
    await ok;
    assert.deepEqual(
      ns.writes.map((w) => w.replace(/^.*\//, '')),
      ['nf_conntrack_tcp_timeout_established=86400', 'nf_conntrack_tcp_timeout_close_wait=3600'],
    );
  });

  it('a hashsize it cannot read is fatal (upstream), and nothing is written', async () => {
    const { fake, run } = await apply({ conntrackLoaded: false });
    await assert.rejects(run, /read \/sys\/module\/nf_conntrack\/parameters\/hashsize.*ENOENT/);
    assert.deepEqual(fake.writes, []);
  });

  it('an OOM score it may not set is only logged (debug, as upstream at -v=2); conntrack goes on', async () => {
    const { fake, lines, run } = await apply(
      { privileged: false },
      settings({ maxPerCore: 0, tcpEstablishedTimeout: null, tcpCloseWaitTimeout: null }, -999),
    );
    const result = await run;
    assert.deepEqual(
      result.failed.map((w) => short(w.file)),
      ['oom_score_adj'],
    );
    assert.equal(fake.values.get(OOM_SCORE_ADJ), 0);
    assert.ok(lines.some((l) => l.level === 'debug' && l.msg === 'Failed to apply OOMScore'));
    assert.ok(!lines.some((l) => l.level === 'warn' || l.level === 'error'));
  });

  it('not strict (the userspace mode, without root): each failure is a warning and the rest is tried', async () => {
    const { fake, lines, run } = await apply(
      { privileged: false },
      settings({ tcpBeLiberal: true }, 5),
      false,
    );
    const result = await run;
    assert.deepEqual(
      result.failed.map((w) => short(w.file)),
      [
        'nf_conntrack_max',
        'hashsize',
        'nf_conntrack_tcp_timeout_established',
        'nf_conntrack_tcp_timeout_close_wait',
        'nf_conntrack_tcp_be_liberal',
      ],
    );
    // Raising its own OOM score needs no privilege.
    assert.deepEqual(fake.writes, [`${OOM_SCORE_ADJ}=5`]);
    assert.equal(lines.filter((l) => l.level === 'warn').length, 5);
  });

  it('the fake refuses what the kernel refuses: values out of range, files it does not model', async () => {
    const fake = new FakeNodeSysctls();
    await assert.rejects(fake.write(CONNTRACK_TCP_BE_LIBERAL, 2), /EINVAL/);
    await assert.rejects(fake.write(OOM_SCORE_ADJ, -1001), /EINVAL/);
    await assert.rejects(fake.read('/proc/sys/net/ipv4/ip_forward' as NodeTuningFile), /ENOENT/);
    await assert.rejects(fake.write(CONNTRACK_MAX, 1.5), TypeError);
    const ro = new FakeNodeSysctls({ readOnlySys: true });
    await assert.rejects(ro.write(CONNTRACK_HASHSIZE, 1), (e: unknown) => isReadOnlyFileSystem(e));
    assert.deepEqual(fake.writes, []);
  });
});
