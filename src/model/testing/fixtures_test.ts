/**
 * The builders that tests and benchmarks name values by (the benchmarks build their states with them, so
 * what they build is pinned here).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointAt, planOptions, proxyState, servicePortState } from './fixtures.ts';

describe('endpointAt', () => {
  it('reads ip:port, IPv6 in brackets too, ready and on no node', () => {
    assert.deepEqual(endpointAt('198.18.101.2:8080'), {
      ip: '198.18.101.2',
      port: 8080,
      ready: true,
      serving: true,
      terminating: false,
      nodeName: undefined,
      zone: undefined,
      isLocal: false,
      zoneHints: [],
      nodeHints: [],
    });
    assert.equal(endpointAt('[fd00::2]:80').ip, 'fd00::2');
  });
});

describe('proxyState', () => {
  it('holds the ports in key order', () => {
    const port = (serviceName: string) => servicePortState({ serviceName, portName: 'http' });
    const state = proxyState([port('b'), port('a')], { nodeName: 'bench-node' });
    assert.deepEqual([...state.servicePorts.keys()], ['default/a:http/TCP', 'default/b:http/TCP']);
    assert.equal(state.nodeName, 'bench-node');
    assert.equal(state.version, 1);
  });
});

describe('planOptions', () => {
  it("takes kproxy's defaults for everything but the overrides", () => {
    const options = planOptions({ nodeName: 'n', nodeIPs: ['198.18.0.1'], userspacePortals: 'on' });
    assert.equal(options.masqueradeBit, 14);
    assert.equal(options.udpIdleTimeoutMs, 250);
    assert.equal(options.proxyPortRange, undefined);
    assert.equal(options.userspacePortals, 'on');
    assert.deepEqual(options.nodeIPs, ['198.18.0.1']);
    assert.equal(options.nodeName, 'n');
  });
});
