import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConntrackEntry } from '../../kernel/conntrack_table.ts';
import type { PortalRule, UserspacePlan } from './plan.ts';
import { staleRedirects } from './stale_redirects.ts';

function rule(overrides: Partial<PortalRule>): PortalRule {
  return {
    table: 'nat',
    chain: 'KUBE-PORTALS-CONTAINER',
    comment: 'd/web:http',
    protocol: 'tcp',
    dport: 80,
    destination: '198.19.0.10/32',
    dstLocal: false,
    newOnly: false,
    target: { kind: 'REDIRECT', toPort: 40955 },
    listenerId: 'l1',
    ...overrides,
  };
}

/** The bound plan as far as staleRedirects reads it: its rules. */
const plan = {
  rules: [
    rule({}),
    rule({ chain: 'KUBE-PORTALS-HOST', target: { kind: 'DNAT', toIP: '127.0.0.1', toPort: 40955 } }),
    rule({
      chain: 'KUBE-NODEPORT-CONTAINER',
      destination: undefined,
      dport: 30080,
      target: { kind: 'REDIRECT', toPort: 41000 },
    }),
  ],
} as unknown as UserspacePlan;

function entry(
  dst: string,
  dport: number,
  sport: number,
  reply: { src: string; sport: number },
): ConntrackEntry {
  return {
    protocol: 'tcp',
    original: { src: '198.18.1.2', dst, sport, dport },
    reply: { src: reply.src, dst: '198.18.1.2', sport: reply.sport, dport: sport },
  };
}

describe('staleRedirects', () => {
  it('picks entries an earlier relay redirected to its proxy port, and un-NATed ones; keeps the current port', () => {
    const entries = [
      entry('198.19.0.10', 80, 50001, { src: '198.18.1.1', sport: 40955 }), // the relay now: kept
      entry('198.19.0.10', 80, 50002, { src: '198.18.1.1', sport: 35459 }), // an earlier relay's port
      entry('198.19.0.10', 80, 50003, { src: '198.18.1.1', sport: 35459 }), // same deletion
      entry('198.19.0.10', 80, 50004, { src: '198.19.0.10', sport: 80 }), // no portal rewrote it
    ];
    assert.deepEqual(
      staleRedirects(entries, plan, 'IPv4').map((t) => `${t.ip}:${t.port} ${t.replyPort ?? 'unnated'}`),
      ['198.19.0.10:80 unnated', '198.19.0.10:80 35459'],
    );
  });

  it('never touches other destinations, ports or protocols, nor anything by node port number alone', () => {
    const entries = [
      entry('198.19.0.11', 80, 50001, { src: '198.18.1.1', sport: 35459 }),
      entry('198.19.0.10', 81, 50002, { src: '198.18.1.1', sport: 35459 }),
      entry('198.18.0.1', 30080, 50003, { src: '198.18.1.1', sport: 35000 }),
      { ...entry('198.19.0.10', 80, 50004, { src: '198.18.1.1', sport: 35459 }), protocol: 'udp' },
    ];
    assert.deepEqual(staleRedirects(entries, plan, 'IPv4'), []);
  });
});
