import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchPlanOptions, clusterIpServicePort, remoteEndpoint, sortedProxyState } from './service_ports.ts';

describe('remoteEndpoint', () => {
  it('reads ip:port, IPv6 in brackets too, ready and on no node', () => {
    assert.deepEqual(remoteEndpoint('198.18.101.2:8080'), {
      ip: '198.18.101.2',
      port: 8080,
      ready: true,
      serving: true,
      terminating: false,
      nodeName: undefined,
      zone: undefined,
      isLocal: false,
    });
    assert.equal(remoteEndpoint('[fd00::2]:80').ip, 'fd00::2');
  });
});

describe('clusterIpServicePort', () => {
  it('keys the port as the tracker does and serves every kind of traffic from the same remote endpoints', () => {
    const endpoints = [remoteEndpoint('198.18.101.2:8080')];
    const sp = clusterIpServicePort({ serviceName: 'web', clusterIPs: ['198.19.0.10'], port: 80, endpoints });
    assert.equal(sp.key, 'default/web:http/TCP');
    assert.equal(sp.type, 'ClusterIP');
    assert.deepEqual(sp.externalIPs, []);
    for (const list of [sp.allEndpoints, sp.clusterEndpoints, sp.internalEndpoints, sp.externalEndpoints]) {
      assert.deepEqual(list, endpoints);
    }
    assert.deepEqual(sp.localEndpoints, []);
    const other = clusterIpServicePort({
      namespace: 'bench',
      serviceName: 'a',
      portName: 'p',
      clusterIPs: [],
      externalIPs: ['198.18.0.1'],
      port: 1,
      endpoints: [],
    });
    assert.equal(other.key, 'bench/a:p/TCP');
    assert.deepEqual(other.externalIPs, ['198.18.0.1']);
  });
});

describe('sortedProxyState', () => {
  it('holds the ports in key order', () => {
    const port = (serviceName: string) =>
      clusterIpServicePort({ serviceName, clusterIPs: [], port: 80, endpoints: [] });
    const state = sortedProxyState([port('b'), port('a')], 'bench-node');
    assert.deepEqual([...state.servicePorts.keys()], ['default/a:http/TCP', 'default/b:http/TCP']);
    assert.equal(state.nodeName, 'bench-node');
  });
});

describe('benchPlanOptions', () => {
  it("takes kproxy's defaults for everything but the node and the overrides", () => {
    const options = benchPlanOptions({ nodeName: 'n', nodeIPs: ['198.18.0.1'] }, { userspacePortals: 'on' });
    assert.equal(options.masqueradeBit, 14);
    assert.equal(options.udpIdleTimeoutMs, 250);
    assert.equal(options.proxyPortRange, undefined);
    assert.equal(options.userspacePortals, 'on');
    assert.deepEqual(options.nodeIPs, ['198.18.0.1']);
  });
});
