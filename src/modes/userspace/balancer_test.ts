import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../runner/clock.ts';
import { Balancer, toBackends } from './balancer.ts';
import { endpoint } from './testing/fixtures.ts';

const three = toBackends(['10.1.0.1:80', '10.1.0.2:80', '10.1.0.3:80'].map((a) => endpoint(a)));
const names = (lb: Balancer, client: string, n: number): string[] =>
  Array.from({ length: n }, () => lb.pick(client, false)?.address ?? 'none');

describe('Balancer', async () => {
  it('rotates through the endpoints in order, whatever the client', async () => {
    const lb = new Balancer(new FakeClock());
    lb.update(three, { type: 'None' });
    const picks = ['a', 'b', 'c', 'a', 'b', 'c'].map((client) => lb.pick(client, false)?.address);
    assert.deepEqual(picks, [
      '10.1.0.1:80',
      '10.1.0.2:80',
      '10.1.0.3:80',
      '10.1.0.1:80',
      '10.1.0.2:80',
      '10.1.0.3:80',
    ]);
  });

  it('passes over a backend marked failed, for a while, unless every backend is', async () => {
    const clock = new FakeClock();
    const lb = new Balancer(clock);
    lb.update(three, { type: 'None' });
    lb.markFailed(three[1]!, 2000);
    assert.deepEqual(names(lb, 'a', 4), ['10.1.0.1:80', '10.1.0.3:80', '10.1.0.1:80', '10.1.0.3:80']);
    lb.markFailed(three[0]!, 2000);
    lb.markFailed(three[2]!, 2000);
    assert.equal(names(lb, 'a', 3).filter((n) => n !== 'none').length, 3, 'all failed: picks go on');
    await clock.advance(2000);
    assert.deepEqual(new Set(names(lb, 'a', 3)), new Set(three.map((b) => b.address)));
    // An update that removes a marked backend forgets the mark.
    lb.markFailed(three[2]!, 60_000);
    lb.update(three.slice(0, 2), { type: 'None' });
    lb.update(three, { type: 'None' });
    assert.ok(names(lb, 'a', 3).includes('10.1.0.3:80'));
  });

  it('moves a client with affinity off a backend marked failed', async () => {
    const lb = new Balancer(new FakeClock());
    lb.update(three, { type: 'ClientIP', timeoutSeconds: 60 });
    const first = lb.pick('a', false)!;
    lb.markFailed(first, 2000);
    const next = lb.pick('a', false)!;
    assert.notEqual(next.address, first.address);
    assert.equal(lb.pick('a', false)?.address, next.address);
  });

  it('has nothing to pick without endpoints', async () => {
    const lb = new Balancer(new FakeClock());
    lb.update([], { type: 'None' });
    assert.equal(lb.pick('a', false), undefined);
  });

  it('keeps its position when an update brings the same endpoints', async () => {
    const lb = new Balancer(new FakeClock());
    lb.update(three, { type: 'None' });
    lb.pick('a', false);
    lb.update([...three], { type: 'None' });
    assert.equal(lb.pick('a', false)?.address, '10.1.0.2:80');
  });

  it('removed endpoints get no new connections', async () => {
    const lb = new Balancer(new FakeClock());
    lb.update(three, { type: 'None' });
    lb.update([three[0]!, three[2]!], { type: 'None' });
    assert.deepEqual(new Set(names(lb, 'a', 6)), new Set(['10.1.0.1:80', '10.1.0.3:80']));
  });

  describe('with ClientIP affinity', async () => {
    const affinity = { type: 'ClientIP', timeoutSeconds: 10 } as const;

    it('sends a client to the same endpoint while it keeps coming, and spreads new clients', async () => {
      const clock = new FakeClock();
      const lb = new Balancer(clock);
      lb.update(three, affinity);
      const first = lb.pick('10.9.0.1', false)?.address;
      for (let i = 0; i < 5; i++) {
        await clock.advance(9_000);
        assert.equal(lb.pick('10.9.0.1', false)?.address, first);
      }
      assert.equal(lb.pick('10.9.0.2', false)?.address, '10.1.0.2:80');
    });

    it('lets the affinity expire after timeoutSeconds without a new connection', async () => {
      const clock = new FakeClock();
      const lb = new Balancer(clock);
      lb.update(three, affinity);
      assert.equal(lb.pick('10.9.0.1', false)?.address, '10.1.0.1:80');
      await clock.advance(9_999);
      assert.equal(lb.pick('10.9.0.1', false)?.address, '10.1.0.1:80');
      await clock.advance(10_000);
      assert.equal(lb.pick('10.9.0.1', false)?.address, '10.1.0.2:80');
    });

    it('moves the client on when its endpoint goes away, or when its connection to it failed', async () => {
      const lb = new Balancer(new FakeClock());
      lb.update(three, affinity);
      assert.equal(lb.pick('10.9.0.1', false)?.address, '10.1.0.1:80');
      lb.update([three[1]!, three[2]!], affinity);
      const moved = lb.pick('10.9.0.1', false)?.address;
      assert.notEqual(moved, '10.1.0.1:80');
      const retried = lb.pick('10.9.0.1', true)?.address;
      assert.notEqual(retried, moved);
      assert.equal(lb.pick('10.9.0.1', false)?.address, retried);
    });

    it('forgets idle clients on sweep, and everything when affinity is turned off', async () => {
      const clock = new FakeClock();
      const lb = new Balancer(clock);
      lb.update(three, affinity);
      lb.pick('10.9.0.1', false);
      await clock.advance(5_000);
      lb.pick('10.9.0.2', false);
      await clock.advance(6_000);
      lb.sweep();
      assert.equal(lb.stickyClients, 1);
      lb.update(three, { type: 'None' });
      assert.equal(lb.stickyClients, 0);
    });
  });
});
