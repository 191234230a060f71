import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelError } from './exec.ts';
import { createIpset, numericProtocols, parseIpsetHeaders } from './ipset.ts';
import { FakeIpset } from './testing/ipset_fake.ts';

describe('ipset seam', () => {
  it('writes entry protocols as numbers, which ipset resolves without reading /etc/protocols', () => {
    const script = [
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
      'add KUBE-CLUSTER-IP 198.18.0.1,tcp:80',
      'del KUBE-6-CLUSTER-IP fd00::1,udp:53',
      'add KUBE-LOOP-BACK 198.19.1.1,sctp:80,198.19.1.1',
      'add KUBE-IPVS-IPS 198.18.0.1',
      'add KUBE-NODE-PORT-LOCAL-TCP 30080',
      '',
    ].join('\n');
    assert.equal(
      numericProtocols(script),
      [
        'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
        'add KUBE-CLUSTER-IP 198.18.0.1,6:80',
        'del KUBE-6-CLUSTER-IP fd00::1,17:53',
        'add KUBE-LOOP-BACK 198.19.1.1,132:80,198.19.1.1',
        'add KUBE-IPVS-IPS 198.18.0.1',
        'add KUBE-NODE-PORT-LOCAL-TCP 30080',
        '',
      ].join('\n'),
    );
  });

  it('restores numerically and lists by name, so a listing still matches the planned entries', async () => {
    const fake = new FakeIpset();
    const inputs: string[] = [];
    const ipset = createIpset(async (_command, args, options) => {
      inputs.push(options?.input ?? '');
      return fake.ipset(args, options?.input ?? '');
    });
    await ipset.restore(
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 198.18.0.1,tcp:80\n',
    );
    assert.match(inputs[0] ?? '', /198\.18\.0\.1,6:80/);
    const listed = await ipset.list();
    assert.deepEqual(listed.find((s) => s.name === 'KUBE-CLUSTER-IP')?.entries, ['198.18.0.1,tcp:80']);
  });

  it('reads the version of ipset, and fails with the command when ipset does not run', async () => {
    const fake = new FakeIpset();
    assert.equal(await createIpset(async (_command, args) => fake.ipset(args)).version(), '7.17');
    const missing = createIpset(async () => ({ code: 127, stdout: '', stderr: 'ipset: not found\n' }));
    await assert.rejects(
      missing.version(),
      (error: unknown) => error instanceof KernelError && error.command === 'ipset --version',
    );
  });

  it('lists only the named sets that exist, each on its own, when given names', async () => {
    const fake = new FakeIpset();
    const ran: string[] = [];
    const ipset = createIpset(async (command, args, options) => {
      ran.push([command, ...args].join(' '));
      return fake.ipset(args, options?.input);
    });
    await ipset.restore(
      [
        'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
        'add KUBE-CLUSTER-IP 198.18.0.1,tcp:80',
        'create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536',
        'add KUBE-6-CLUSTER-IP 2001:2::1,tcp:80',
        '',
      ].join('\n'),
    );
    ran.length = 0;
    assert.deepEqual(await ipset.list(['KUBE-6-CLUSTER-IP', 'KUBE-6-IPVS-IPS']), [
      { name: 'KUBE-6-CLUSTER-IP', type: 'hash:ip,port', family: 'inet6', entries: ['2001:2::1,tcp:80'] },
    ]);
    assert.deepEqual(ran, ['ipset list -n', 'ipset list -o save KUBE-6-CLUSTER-IP']);
    assert.deepEqual(
      (await ipset.list()).map((s) => s.name),
      ['KUBE-6-CLUSTER-IP', 'KUBE-CLUSTER-IP'],
    );
  });

  it('lists every set header and its entry count in one run, never the entries (ipset 7 output)', async () => {
    // As ipset v7.17 prints `ipset list -t` (read in the test guest).
    const real = [
      'Name: KUBE-CLUSTER-IP',
      'Type: hash:ip,port',
      'Revision: 6',
      'Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xaca3d343',
      'Size in memory: 248',
      'References: 0',
      'Number of entries: 1',
      '',
      'Name: KUBE-6-X',
      'Type: hash:ip',
      'Revision: 5',
      'Header: family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0xade786c3',
      'Size in memory: 208',
      'References: 0',
      'Number of entries: 0',
      '',
    ].join('\n');
    assert.deepEqual(parseIpsetHeaders(real), [
      { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', entries: 1 },
      { name: 'KUBE-6-X', type: 'hash:ip', entries: 0 },
    ]);
    const fake = new FakeIpset();
    const ran: string[] = [];
    const ipset = createIpset(async (command, args, options) => {
      ran.push([command, ...args].join(' '));
      return fake.ipset(args, options?.input);
    });
    await ipset.restore(
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 198.18.0.1,tcp:80\nadd KUBE-CLUSTER-IP 198.18.0.2,tcp:80\n',
    );
    ran.length = 0;
    assert.deepEqual(await ipset.listHeaders(), [
      { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', entries: 2 },
    ]);
    assert.deepEqual(ran, ['ipset list -t']);
  });
});
