import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createConntrackTable, parseConntrackListing } from './conntrack_table.ts';
import type { Exec } from './exec.ts';

const LISTING = `tcp      6 117 SYN_SENT src=198.18.0.1 dst=198.19.0.5 sport=50658 dport=80 [UNREPLIED] src=198.19.0.5 dst=198.18.0.1 sport=80 dport=50658 mark=0 use=1
udp      17 29 src=198.18.0.1 dst=198.19.0.6 sport=58725 dport=53 [UNREPLIED] src=198.19.0.6 dst=198.18.0.1 sport=53 dport=58725 mark=0 use=1
tcp      6 431999 ESTABLISHED src=2001:2:0:c0::2 dst=2001:2:0:f::10 sport=40000 dport=80 src=2001:2:0:d0::2 dst=2001:2:0:c0::2 sport=8080 dport=40000 [ASSURED] mark=0 use=1
icmp     1 29 src=198.18.0.1 dst=198.18.0.2 type=8 code=0 id=1 src=198.18.0.2 dst=198.18.0.1 type=0 code=0 id=1 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
`;

describe('parseConntrackListing', () => {
  it('reads both tuples of TCP and UDP entries of either family; ICMP has no ports (0)', () => {
    const entries = parseConntrackListing(LISTING);
    assert.equal(entries.length, 4);
    assert.deepEqual(entries[0], {
      protocol: 'tcp',
      original: { src: '198.18.0.1', dst: '198.19.0.5', sport: 50658, dport: 80 },
      reply: { src: '198.19.0.5', dst: '198.18.0.1', sport: 80, dport: 50658 },
    });
    assert.equal(entries[2]?.reply.src, '2001:2:0:d0::2');
    assert.equal(entries[3]?.original.dport, 0);
  });
});

describe('createConntrackTable', () => {
  it('deletes only un-NATed entries to one address and port, with the family; "nothing deleted" is fine', async () => {
    const calls: string[] = [];
    const exec: Exec = async (command, args) => {
      calls.push([command, ...args].join(' '));
      return {
        code: 1,
        stdout: '',
        stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n',
      };
    };
    await createConntrackTable(exec).deleteUnnated({
      family: 'IPv6',
      protocol: 'tcp',
      ip: '2001:2:0:f::10',
      port: 80,
    });
    assert.deepEqual(calls, [
      'conntrack -D -f ipv6 -p tcp --orig-dst 2001:2:0:f::10 --orig-port-dst 80 --reply-src 2001:2:0:f::10',
    ]);
  });
});
