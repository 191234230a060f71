import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchesFieldSelector, matchesLabelSelector, SelectorSyntaxError } from './selectors.ts';

describe('matchesLabelSelector', () => {
  const proxyName = 'service.kubernetes.io/service-proxy-name';
  it('selects objects without a label with !key, as kube-proxy asks', () => {
    assert.equal(matchesLabelSelector(`!${proxyName}`, { app: 'web' }), true);
    assert.equal(matchesLabelSelector(`!${proxyName}`, { [proxyName]: 'other' }), false);
  });
  it('requires every comma-separated term', () => {
    const sel = '!service.kubernetes.io/headless,app=web';
    assert.equal(matchesLabelSelector(sel, { app: 'web' }), true);
    assert.equal(matchesLabelSelector(sel, { app: 'db' }), false);
    assert.equal(matchesLabelSelector(sel, { app: 'web', 'service.kubernetes.io/headless': '' }), false);
  });
  it('understands exists, !=, in and notin', () => {
    assert.equal(matchesLabelSelector('app', { app: 'x' }), true);
    assert.equal(matchesLabelSelector('app', {}), false);
    assert.equal(matchesLabelSelector('app!=x', {}), true);
    assert.equal(matchesLabelSelector('app in (a,b)', { app: 'b' }), true);
    assert.equal(matchesLabelSelector('app notin (a,b)', { app: 'b' }), false);
  });
  it('matches everything when empty', () => {
    assert.equal(matchesLabelSelector('', {}), true);
  });
  it('rejects syntax it does not know', () => {
    assert.throws(() => matchesLabelSelector('a b c', {}), SelectorSyntaxError);
  });
});

describe('matchesFieldSelector', () => {
  it('compares dotted fields with = and !=', () => {
    const svc = { metadata: { name: 'web' }, spec: { clusterIP: 'None' } };
    assert.equal(matchesFieldSelector('metadata.name=web', svc), true);
    assert.equal(matchesFieldSelector('spec.clusterIP!=None', svc), false);
    assert.equal(matchesFieldSelector('spec.clusterIP!=None', { spec: {} }), true);
  });
  it('rejects syntax it does not know', () => {
    assert.throws(() => matchesFieldSelector('metadata.name', {}), SelectorSyntaxError);
  });
});
