/**
 * The ipvs mode in a real IPVS kernel (the test guest, see src/lab/guest/): one boot runs
 * testing/guest_scenario.ts, which drives the Proxier with real traffic between network namespaces; the
 * specifications below read its report. Needs scripts/guest-setup.sh (run automatically; root and apt on a
 * fresh machine).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runInGuest } from '../../lab/guest/run_in_guest.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [
    'qemu-system-x86_64',
    'busybox',
    ...LAB_TOOLS,
    ...IPTABLES_TOOLS,
    'iptables-save',
    'ipvsadm',
    'ipset',
  ],
  guestKernel: true,
});

interface Report {
  firstSyncMs: number;
  rr: string[];
  sticky: string[];
  sh: string[];
  nodePort: string[];
  unservedPort: string;
  heldBy: string;
  drainingAfterRemoval: string[];
  listingWhileDraining: string;
  newWhileDraining: string[];
  heldEcho: string;
  drainedMs: number;
  listingAfterDrain: string;
  afterCleanup: { ipvs: string; dummy: number; sets: string; iptables: string[] };
  tuning: { arpIgnore: string; arpAnnounce: string; timeouts: string; excludedKept: boolean };
  brNetfilter: number;
  localDetection: { clusterCIDR: LocalDetectionRound; bridgeInterface: LocalDetectionRound };
}

/** One round of the scenario's local-detection phase (VIP 198.18.0.15, one endpoint: pod2). */
interface LocalDetectionRound {
  /** The nat KUBE-SERVICES rule that marks off-pod traffic to a cluster IP for masquerade. */
  rule: string;
  fromClient: string[];
  fromPod: string[];
  /** How many connections the rule marked: the client's two, then pod1's two. */
  clientMarked: number;
  podMarked: number;
  /** The node's conntrack entries of the VIP, `conntrack -L` lines. */
  conntrack: string[];
}

/** The reply destination of each conntrack entry, by original source: the node's address when masqueraded. */
function replyDestinations(lines: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of lines) {
    const [origSrc, , , replyDst] = [...line.matchAll(/\b(?:src|dst)=(\S+)/g)].map((m) => m[1]!);
    if (origSrc === undefined || replyDst === undefined) continue;
    out[origSrc] = [...(out[origSrc] ?? []), replyDst];
  }
  return out;
}

/** The real-server line of `ipvsadm -Ln` for a backend of the drain service (198.18.0.14:80). */
function drainLine(listing: string, pod: string): string | undefined {
  const service = listing
    .split(/\n(?=TCP|UDP|SCTP)/)
    .find((block) => block.startsWith('TCP  198.18.0.14:80'));
  const ip = `198.19.1.${pod.replace('pod', '')}`;
  return service?.split('\n').find((line) => line.includes(`-> ${ip}:8080`));
}

describe('ipvs mode in a real IPVS kernel', { skip }, () => {
  let report: Report;
  before(async () => {
    const result = await runInGuest(['node', '--import', 'tsx', 'src/modes/ipvs/testing/guest_scenario.ts'], {
      timeoutMs: 180_000,
    });
    const line = /^KPT-REPORT (.*)$/m.exec(result.stdout);
    assert.ok(line !== null, `the scenario reported nothing (exit ${result.code}):\n${result.stderr}`);
    report = JSON.parse(line[1]!) as Report;
  });

  it('reaches every backend through the VIP, and rr rotates exactly', () => {
    const [a, b, c] = report.rr;
    assert.equal(new Set([a, b, c]).size, 3, `three different backends first: ${report.rr.join(',')}`);
    assert.deepEqual(report.rr.slice(3), report.rr.slice(0, 3), 'then the same order again');
    assert.deepEqual([...new Set(report.rr)].sort(), ['pod1', 'pod2', 'pod3']);
  });

  it('keeps a client on one backend with ClientIP affinity (persistence) and with the sh scheduler', () => {
    assert.equal(new Set(report.sticky).size, 1, report.sticky.join(','));
    assert.match(report.sticky[0]!, /^pod[123]$/);
    assert.equal(new Set(report.sh).size, 1, report.sh.join(','));
    assert.match(report.sh[0]!, /^pod[123]$/);
  });

  it('serves a NodePort on the node address, alternating over its two endpoints', () => {
    assert.deepEqual([...new Set(report.nodePort)].sort(), ['pod1', 'pod2']);
    assert.notEqual(report.nodePort[0], report.nodePort[1]);
  });

  it('refuses a connection to a VIP port that no service serves', () => {
    assert.match(report.unservedPort, /^ERR:.*Connection refused/);
  });

  it('drains a removed endpoint: weight 0, its connection still works, no new connections, deleted when idle', () => {
    assert.match(report.heldBy, /^pod[123]$/);
    const ip = `198.19.1.${report.heldBy.replace('pod', '')}`;
    assert.deepEqual(report.drainingAfterRemoval, [`TCP/198.18.0.14:80/${ip}:8080`]);
    assert.match(
      drainLine(report.listingWhileDraining, report.heldBy) ?? '',
      /Masq\s+0\s+1\s+\d+/,
      'weight 0, one active connection',
    );
    assert.ok(
      !report.newWhileDraining.includes(report.heldBy),
      `new connections avoid it: ${report.newWhileDraining.join(',')}`,
    );
    assert.equal(report.newWhileDraining.length, 4);
    assert.equal(report.heldEcho, 'still-here');
    assert.ok(
      report.drainedMs >= 0 && report.drainedMs < 20_000,
      `deleted after its connection closed (${report.drainedMs} ms)`,
    );
    assert.equal(drainLine(report.listingAfterDrain, report.heldBy), undefined);
  });

  it('applies the node settings: strict ARP, the IPVS timeouts, and leaves an excluded CIDR alone', () => {
    assert.equal(report.tuning.arpIgnore, '1');
    assert.equal(report.tuning.arpAnnounce, '2');
    assert.match(report.tuning.timeouts, /1800 60 200/);
    assert.equal(
      report.tuning.excludedKept,
      true,
      'the virtual server in --ipvs-exclude-cidrs is still there',
    );
  });

  for (const [name, match] of [
    ['ClusterCIDR', '! -s 198.19.1.0/24'],
    ['BridgeInterface', '! -i kptbr'],
  ] as const) {
    it(`--detect-local-mode ${name}: a pod's connection to a VIP is not masqueraded, the client's is`, () => {
      assert.equal(report.brNetfilter, 0, 'br_netfilter loaded');
      const round =
        name === 'ClusterCIDR' ? report.localDetection.clusterCIDR : report.localDetection.bridgeInterface;
      assert.ok(round.rule.includes(`-A KUBE-SERVICES ${match} `), `the rule: ${round.rule}`);
      assert.deepEqual(round.fromClient, ['pod2', 'pod2']);
      assert.deepEqual(round.fromPod, ['pod2', 'pod2'], 'the unmasqueraded pod connections work too');
      assert.equal(round.clientMarked, 2, 'both client connections marked for masquerade');
      assert.equal(round.podMarked, 0, 'neither pod connection marked');
      // Masqueraded: pod2 answers the node's bridge address; not: it answers pod1 itself.
      assert.deepEqual(replyDestinations(round.conntrack), {
        '198.18.5.2': ['198.19.1.254', '198.19.1.254'],
        '198.19.1.1': ['198.19.1.1', '198.19.1.1'],
      });
    });
  }

  it('cleanup leaves no virtual server, set, rule or interface', () => {
    assert.doesNotMatch(report.afterCleanup.ipvs, /^(TCP|UDP|SCTP) /m);
    assert.notEqual(report.afterCleanup.dummy, 0, 'kube-ipvs0 is gone');
    assert.equal(report.afterCleanup.sets, '');
    assert.deepEqual(report.afterCleanup.iptables, []);
  });
});
