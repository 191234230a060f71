// The chaos report: table cells, sentences, merging runs made in parts, and when a report is partial.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type ChaosReport,
  type ChaosRunResult,
  isComplete,
  mergeRuns,
  provenance,
  renderMarkdown,
  rowCells,
  runSentence,
} from './report.ts';
import { FAULTS, phaseTimes } from './schedule.ts';

function run(over: Partial<ChaosRunResult> = {}): ChaosRunResult {
  return {
    mode: 'iptables',
    fault: 'flush-rules',
    quick: false,
    syncPeriodMs: 2000,
    backend: 'nft',
    faultAt: 1000,
    faultMs: 10,
    times: phaseTimes('flush-rules', false),
    tcp: {
      tried: 30_712,
      failed: 268,
      failedBeforeFault: 0,
      longestInterruptionMs: 1502,
      recoverMs: 6400,
      failedAfterBack: 8,
      outagesAfterFault: 5,
      reasons: { TIMEOUT: 8, EHOSTUNREACH: 260 },
    },
    udp: {
      tried: 2000,
      failed: 0,
      failedBeforeFault: 0,
      longestInterruptionMs: 0,
      recoverMs: 0,
      failedAfterBack: 0,
      outagesAfterFault: 0,
      reasons: {},
    },
    tcpOutages: [],
    udpOutages: [],
    marks: {},
    backends: {},
    notes: [],
    error: undefined,
    ...over,
  };
}

describe('rowCells and runSentence', () => {
  it('shows counts with separators and reasons by frequency', () => {
    assert.deepEqual(rowCells(run()), [
      '30,712',
      '268',
      '1,502',
      '6,400',
      '8',
      'EHOSTUNREACH ×260, TIMEOUT ×8',
      '2,000',
      '0',
      '0',
      '0',
    ]);
    assert.match(
      runSentence(run()),
      /^iptables: TCP 268 of 30,712 failed; longest interruption 1,502 ms, recovered 6,400 ms/,
    );
  });

  it('says when the service never came back, and shows a failed run as an error', () => {
    const open = run({ tcp: { ...run().tcp!, recoverMs: null } });
    assert.equal(rowCells(open)[3], 'not recovered');
    assert.match(runSentence(open), /still failing at the end/);
    const failed = run({ tcp: undefined, udp: undefined, error: 'The service never answered | x' });
    assert.equal(rowCells(failed)[0], 'error');
    assert.match(rowCells(failed)[5]!, /never answered \/ x/);
  });
});

describe('mergeRuns and isComplete', () => {
  it('replaces an earlier run of the same fault and mode, keeps the others, in catalogue order', () => {
    const earlier = {
      runs: [run({ fault: 'kill9' }), run({ fault: 'wipe-table', mode: 'userspace' })],
      skipped: [],
    };
    const later = { runs: [run({ fault: 'kill9', quick: true })], skipped: [] };
    const merged = mergeRuns(earlier, later);
    assert.deepEqual(
      merged.runs.map((r) => [r.mode, r.fault, r.quick]),
      [
        ['userspace', 'wipe-table', false],
        ['iptables', 'kill9', true],
      ],
    );
  });

  it('is complete only with a full-phase run or a skip for every fault of every mode', () => {
    const all = FAULTS.map((fault) => run({ fault }));
    assert.equal(isComplete(all, [], ['iptables']), true);
    assert.equal(isComplete(all.slice(1), [], ['iptables']), false);
    assert.equal(
      isComplete(all.slice(1), [{ mode: 'iptables', fault: 'kill9', reason: 'x' }], ['iptables']),
      true,
    );
    assert.equal(
      isComplete([...all.slice(1), run({ fault: 'kill9', quick: true })], [], ['iptables']),
      false,
    );
    assert.equal(isComplete(all, [], ['iptables', 'nftables']), false);
  });
});

describe('renderMarkdown', () => {
  it('marks a partial run, a quick run, and lists what was not measured', () => {
    const report: ChaosReport = {
      generatedAt: '2026-12-07T00:00:00.000Z',
      commands: ['npm run chaos -- --quick'],
      partial: true,
      durationMs: 60_000,
      machine: '2 × test cpu',
      runs: [run({ quick: true })],
      skipped: [{ mode: 'ipvs', fault: 'kill9', reason: 'needs the guest' }],
    };
    const md = renderMarkdown(report);
    assert.match(md, /\*\*Partial run\.\*\*/);
    assert.match(md, /\| kproxy's rules flushed \| iptables\* \| 30,712 \| 268 \|/);
    assert.match(md, /- ipvs: needs the guest \(kill9\)/);
    assert.match(md, /### kproxy's rules flushed \(`flush-rules`\)/);
    assert.match(
      md,
      /Generated 2026-12-07T00:00:00.000Z by `npm run chaos -- --quick` in 60 s on 2 × test cpu\./,
    );
  });

  it('names the latest of many merged commands and counts the others', () => {
    const commands = Array.from({ length: 25 }, (_, i) => `npm run chaos -- --faults f${i} --merge`);
    const text = provenance({
      generatedAt: '2026-12-07T00:00:00.000Z',
      commands,
      partial: false,
      durationMs: 3_610_000,
      machine: '2 × test cpu',
      runs: [],
      skipped: [],
    });
    assert.match(text, /merged from 25 runs of `npm run chaos`/);
    assert.match(text, /3,610 s in all/);
    assert.match(text, /the latest `npm run chaos -- --faults f24 --merge`/);
    assert.doesNotMatch(text, /f23/);
  });
});
