/**
 * Repair and heal in the ipvs mode, through the real daemon in a real IPVS kernel (the test guest): its
 * virtual servers cleared (`ipvsadm --clear`) and its nat KUBE-SERVICES flushed while it is frozen, with the
 * periodic resync 120 s away, so that only the integrity check between syncs (`--rules-check-period`,
 * integrity.ts) can bring the service back within the 45 s the scenario waits; and the client connection
 * that fell into the outage connects again from the same port once the rules are back (heal). One boot runs
 * testing/guest_repair_scenario.ts; the specifications below read its report. Run with the scenario's
 * `--rules-check-period 0`, the service is not back within those 45 s and this test fails.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runInGuest } from '../../lab/guest/run_in_guest.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import type { RepairReport } from './testing/guest_repair_scenario.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [
    'qemu-system-x86_64',
    'busybox',
    ...LAB_TOOLS,
    ...IPTABLES_TOOLS,
    'ipvsadm',
    'ipset',
    'conntrack',
    'curl',
  ],
  guestKernel: true,
});

const VIP = '198.19.0.80';
const POD = '198.18.101.2';

/** The reply source address of a `conntrack -L` line (the second `src=`). */
function replySource(line: string): string | undefined {
  return [...line.matchAll(/\bsrc=(\S+)/g)][1]?.[1];
}

describe('ipvs mode: repair and heal after its kernel state is wiped (real daemon, guest kernel)', {
  skip,
}, () => {
  let report: RepairReport;
  before(async () => {
    const result = await runInGuest(
      ['node', '--import', 'tsx', 'src/modes/ipvs/testing/guest_repair_scenario.ts'],
      { timeoutMs: 300_000, memoryMb: 1536, cpus: 2 },
    );
    const line = /^KPT-REPORT (.*)$/m.exec(result.stdout);
    assert.ok(line !== null, `the scenario reported nothing (exit ${result.code}):\n${result.stderr}`);
    report = JSON.parse(line[1]!) as RepairReport;
    assert.equal(report.error, undefined, report.error);
  });

  it('tracks a connection IPVS handled with its reply from the real server (the heal rule spares it)', () => {
    assert.ok(report.healthy.length > 0, 'the healthy connection is tracked');
    for (const line of report.healthy) assert.equal(replySource(line), POD, line);
  });

  it('leaves an entry without NAT behind for a connection into the outage (reply from the VIP itself)', () => {
    assert.equal(report.duringOutage, '');
    assert.ok(report.outageEntries.length > 0, 'the outage connection is tracked');
    for (const line of report.outageEntries) assert.equal(replySource(line), VIP, line);
  });

  it('repairs long before the periodic resync, through the integrity check', () => {
    assert.notEqual(
      report.backMs,
      undefined,
      `the service did not come back within 45 s: ${report.log.join('\n')}`,
    );
    assert.ok(
      report.log.some((l) => /Proxy rules damaged behind our back/.test(l)),
      report.log.join('\n'),
    );
  });

  it('heals: no entry without NAT is left for the outage port, and that port connects again', () => {
    assert.deepEqual(
      report.outageEntriesAfterRepair.filter((l) => replySource(l) === VIP),
      [],
      'no entry without NAT left for the outage port',
    );
    assert.notEqual(report.samePortMs, undefined, `first attempt: ${JSON.stringify(report.samePortFirst)}`);
  });
});
