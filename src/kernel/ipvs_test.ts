import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelError } from './exec.ts';
import {
  createIpvs,
  IpvsParseError,
  ipvsadmArgs,
  MAX_IPVS_TIMEOUT,
  parseIpvsList,
  parseIpvsTimeouts,
} from './ipvs.ts';
import { FakeIpvs } from './testing/ipvs_fake.ts';

// Captured from ipvsadm 1.31 on Debian's 6.1 kernel (the test guest).
const LISTING = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.1:80 rr persistent 60
  -> 198.18.1.2:8080              Masq    1      3          12
  -> 198.18.1.3:8080              Masq    0      0          1
TCP  198.18.0.3:80 sh (sh-fallback,sh-port)
UDP  198.18.0.2:53 mh (mh-port)
SCTP 198.18.0.4:80 wlc
TCP  [fd00::1]:80 lblcr
  -> [fd00::2]:8080               Masq    3      0          0         
`;

describe('ipvs seam', () => {
  it('parses ipvsadm -Ln --exact: services, flags, persistence and real servers with counters', () => {
    const table = parseIpvsList(LISTING);
    assert.deepEqual(
      table.map((s) => [
        s.protocol,
        s.address,
        s.port,
        s.scheduler,
        s.flags,
        s.persistentTimeout,
        s.realServers.length,
      ]),
      [
        ['TCP', '198.18.0.1', 80, 'rr', [], 60, 2],
        ['TCP', '198.18.0.3', 80, 'sh', ['sh-fallback', 'sh-port'], undefined, 0],
        ['UDP', '198.18.0.2', 53, 'mh', ['mh-port'], undefined, 0],
        ['SCTP', '198.18.0.4', 80, 'wlc', [], undefined, 0],
        ['TCP', 'fd00::1', 80, 'lblcr', [], undefined, 1],
      ],
    );
    assert.deepEqual(table[0]?.realServers[0], {
      address: '198.18.1.2',
      port: 8080,
      forward: 'Masq',
      weight: 1,
      activeConnections: 3,
      inactiveConnections: 12,
    });
    assert.equal(table[4]?.realServers[0]?.address, 'fd00::2');
  });

  it('renders every command as ipvsadm spells it', () => {
    const service = { protocol: 'SCTP', address: 'fd00::1', port: 80 } as const;
    assert.deepEqual(
      ipvsadmArgs({
        op: 'add-service',
        service: { ...service, scheduler: 'mh', flags: ['mh-port'], persistentTimeout: 30 },
      }),
      ['-A', '--sctp-service', '[fd00::1]:80', '-s', 'mh', '-b', 'mh-port', '-p', '30'],
    );
    assert.deepEqual(
      ipvsadmArgs({ op: 'edit-server', service, server: { address: 'fd00::2', port: 8080, weight: 0 } }),
      ['-e', '--sctp-service', '[fd00::1]:80', '-r', '[fd00::2]:8080', '-m', '-w', '0'],
    );
  });

  it('round-trips through the fake, and treats a restore line that failed (exit 0, stderr) as a failure', async () => {
    const fake = new FakeIpvs();
    const ipvs = createIpvs(async (_command, args, options) => fake.ipvsadm(args, options?.input));
    const service = { protocol: 'TCP', address: '198.18.0.1', port: 80 } as const;
    await ipvs.apply([
      { op: 'add-service', service: { ...service, scheduler: 'rr', flags: [], persistentTimeout: 60 } },
      { op: 'add-server', service, server: { address: '198.18.1.2', port: 8080, weight: 1 } },
    ]);
    const [listed] = await ipvs.list();
    assert.equal(listed?.persistentTimeout, 60);
    assert.equal(listed?.realServers[0]?.weight, 1);
    await assert.rejects(
      ipvs.apply([
        {
          op: 'add-service',
          service: { ...service, scheduler: 'rr', flags: [], persistentTimeout: undefined },
        },
      ]),
      (error: unknown) => error instanceof KernelError && /Service already exists/.test(error.message),
    );
  });
});

describe('ipvs seam: timeouts', () => {
  it('sets and reads the timeouts through ipvsadm --set and -L --timeout', async () => {
    const fake = new FakeIpvs();
    const ipvs = createIpvs(async (_command, args, options) => fake.ipvsadm(args, options?.input));
    assert.deepEqual(await ipvs.timeouts(), { tcp: 900, tcpFin: 120, udp: 300 });
    await ipvs.setTimeouts({ tcp: 7200, tcpFin: 0, udp: 30 });
    assert.deepEqual(fake.calls.at(-1), ['--set', '7200', '0', '30']);
    assert.deepEqual(await ipvs.timeouts(), { tcp: 7200, tcpFin: 120, udp: 30 });
  });

  it('refuses a negative, fractional or overflowing timeout before running anything', async () => {
    const fake = new FakeIpvs();
    const ipvs = createIpvs(async (_command, args, options) => fake.ipvsadm(args, options?.input));
    for (const bad of [{ tcp: -1 }, { tcpFin: 1.5 }, { udp: MAX_IPVS_TIMEOUT + 1 }]) {
      await assert.rejects(ipvs.setTimeouts({ tcp: 0, tcpFin: 0, udp: 0, ...bad }), TypeError);
    }
    assert.deepEqual(fake.calls, []);
  });

  it('parses the timeout line, and refuses output without one', () => {
    assert.deepEqual(parseIpvsTimeouts('Timeout (tcp tcpfin udp): 900 120 300\n'), {
      tcp: 900,
      tcpFin: 120,
      udp: 300,
    });
    assert.throws(() => parseIpvsTimeouts('IP Virtual Server version 1.2.1\n'), IpvsParseError);
  });
});
