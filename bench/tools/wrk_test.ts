import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BenchError } from './bench_error.ts';
import { parseWrkOutput, wrkArgv } from './wrk.ts';

const keepAlive = `Running 1s test @ http://127.0.0.1:8080/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   169.36us  421.08us   7.07ms   97.92%
    Req/Sec    55.02k     3.47k   59.74k    80.00%
  Latency Distribution
     50%  108.00us
     75%  142.00us
     90%  178.00us
     99%    2.26ms
  54698 requests in 1.00s, 3.55MB read
  Socket errors: connect 0, read 12, write 1, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  54675.97
Transfer/sec:      3.55MB
`;

describe('parseWrkOutput', () => {
  it('reads requests/s, the latency distribution in ms whatever the unit, and the errors', () => {
    assert.deepEqual(parseWrkOutput(keepAlive), {
      requests: 54698,
      requestsPerSecond: 54675.97,
      latencyMs: { p50: 0.108, p75: 0.142, p90: 0.178, p99: 2.26 },
      errors: { connect: 0, read: 12, write: 1, timeout: 3, status: 7 },
    });
  });

  it('reads a real report of a Connection: close run, with no error lines', () => {
    const result = parseWrkOutput(readFileSync(new URL('./testdata/wrk-close.txt', import.meta.url), 'utf8'));
    assert.ok(result.requestsPerSecond > 0);
    assert.ok(result.requests > 0);
    assert.ok(result.latencyMs.p50 <= result.latencyMs.p99);
    assert.deepEqual(result.errors, { connect: 0, read: 0, write: 0, timeout: 0, status: 0 });
  });

  it('reads latencies in seconds', () => {
    const result = parseWrkOutput(keepAlive.replace('2.26ms', '1.50s'));
    assert.equal(result.latencyMs.p99, 1500);
  });

  it('fails clearly when wrk did not produce a report', () => {
    assert.throws(
      () => parseWrkOutput('unable to connect to 127.0.0.1:8081 Connection refused\n'),
      (error: unknown) =>
        error instanceof BenchError &&
        /^Cannot read wrk's report: no requests\/s in "unable to connect/.test(error.message),
    );
  });
});

describe('wrkArgv', () => {
  it('bounds every run in time and connections, and adds Connection: close for new-connection runs', () => {
    assert.deepEqual(
      wrkArgv({
        url: 'http://198.19.0.10:80/',
        durationSeconds: 3,
        connections: 16,
        threads: 1,
        newConnectionPerRequest: true,
      }),
      [
        'wrk',
        '-t1',
        '-c16',
        '-d3s',
        '--timeout',
        '2s',
        '--latency',
        '-H',
        'Connection: close',
        'http://198.19.0.10:80/',
      ],
    );
  });

  it('refuses unbounded or odd runs', () => {
    const ok = {
      url: 'http://198.19.0.10:80/',
      durationSeconds: 3,
      connections: 16,
      threads: 1,
      newConnectionPerRequest: false,
    };
    assert.throws(() => wrkArgv({ ...ok, durationSeconds: 0 }), RangeError);
    assert.throws(() => wrkArgv({ ...ok, connections: 0 }), RangeError);
    assert.throws(() => wrkArgv({ ...ok, url: 'http://x;rm/' }), /Bad wrk URL/);
  });
});
