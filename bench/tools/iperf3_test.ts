import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iperf3ClientArgv, parseIperf3Json } from './iperf3.ts';

describe('parseIperf3Json', () => {
  it('reads what the receiver got and the sender retransmits', () => {
    const report = JSON.stringify({
      start: {},
      end: {
        sum_sent: { bytes: 2_400_000_000, bits_per_second: 19e9, retransmits: 4 },
        sum_received: { bytes: 2_355_363_840, bits_per_second: 18_767_932_828.35 },
      },
    });
    assert.deepEqual(parseIperf3Json(report), {
      bitsPerSecond: 18_767_932_828.35,
      bytes: 2_355_363_840,
      retransmits: 4,
    });
  });

  it("reports iperf3's own error", () => {
    assert.throws(
      () =>
        parseIperf3Json('{"start":{},"end":{},"error":"unable to connect to server: Connection refused"}'),
      /^BenchError: iperf3 failed: unable to connect to server: Connection refused$/,
    );
  });

  it('refuses output that is not a report', () => {
    assert.throws(
      () => parseIperf3Json('iperf3: error'),
      /Cannot read iperf3's report: not JSON: iperf3: error/,
    );
    assert.throws(() => parseIperf3Json('{"end":{}}'), /no end.sum_received/);
  });
});

describe('iperf3ClientArgv', () => {
  it('runs one bounded client test with a JSON report', () => {
    assert.deepEqual(iperf3ClientArgv('198.19.0.10', 5201, 3), [
      'iperf3',
      '-c',
      '198.19.0.10',
      '-p',
      '5201',
      '-t',
      '3',
      '-J',
      '--connect-timeout',
      '3000',
    ]);
  });
  it('refuses unbounded runs and odd targets', () => {
    assert.throws(() => iperf3ClientArgv('198.19.0.10', 5201, 0), /Bad iperf3 duration/);
    assert.throws(() => iperf3ClientArgv('-x', 5201, 1), /Bad iperf3 target/);
  });
});
