import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { FakeClock } from '../../runner/clock.ts';
import { type Backend, Balancer } from './balancer.ts';
import { loopbackBackend } from './testing/loopback.ts';
import { UDP_ATTEMPTS, UdpRelay } from './udp_relay.ts';

const sockets: Socket[] = [];
after(() => {
  for (const s of sockets) {
    try {
      s.close();
    } catch {
      /* closed by the test */
    }
  }
});

/** A UDP backend on 127.0.0.1 that replies `<name> <source port>` (so a test sees its flows). */
async function udpBackend(name: string): Promise<Backend> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  socket.on('message', (_msg, rinfo) => socket.send(`${name} ${rinfo.port}`, rinfo.port, rinfo.address));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return loopbackBackend(socket.address().port);
}

/** A UDP port on 127.0.0.1 that nothing listens on (the kernel answers port-unreachable). */
async function closedPort(): Promise<number> {
  const gone = createSocket('udp4');
  gone.bind(0, '127.0.0.1');
  await once(gone, 'listening');
  const port = gone.address().port;
  gone.close();
  return port;
}

async function client(): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.push(socket);
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

/** Sends one datagram and returns the reply text and where it came from. */
async function ask(socket: Socket, port: number): Promise<{ text: string; from: string }> {
  const reply = once(socket, 'message') as Promise<[Buffer, { address: string; port: number }]>;
  socket.send('ping', port, '127.0.0.1');
  const [msg, rinfo] = await reply;
  return { text: msg.toString(), from: `${rinfo.address}:${rinfo.port}` };
}

/** Polls a condition that real sockets make true (bounded: fails the test after 2 s). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!condition()) {
    assert.ok(performance.now() < deadline, 'condition not met within 2 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function startRelay(backends: Backend[], clock: FakeClock): Promise<{ relay: UdpRelay; port: number }> {
  const balancer = new Balancer(clock);
  balancer.update(backends, { type: 'None' });
  const relay = new UdpRelay(balancer, 'udp4', { idleTimeoutMs: 250, clock });
  const port = await relay.listen('127.0.0.1', 0);
  after(() => relay.close());
  return { relay, port };
}

describe('UdpRelay', () => {
  it('relays a request to a backend and the reply back from the address the client sent to', async () => {
    const clock = new FakeClock();
    const { port } = await startRelay([await udpBackend('b0')], clock);
    const c = await client();
    const reply = await ask(c, port);
    assert.match(reply.text, /^b0 \d+$/);
    assert.equal(reply.from, `127.0.0.1:${port}`);
  });

  it('keeps one backend socket per client address: same flow for the same client, new flow for another', async () => {
    const clock = new FakeClock();
    const { relay, port } = await startRelay([await udpBackend('b0'), await udpBackend('b1')], clock);
    const one = await client();
    const two = await client();
    const first = await ask(one, port);
    const again = await ask(one, port);
    const other = await ask(two, port);
    assert.equal(again.text, first.text, 'the same client reuses its flow (same backend, same source port)');
    assert.notEqual(other.text.split(' ')[0], first.text.split(' ')[0], 'a new client gets the next backend');
    assert.equal(relay.flows.size, 2);
  });

  it('closes a flow idle for the timeout; the next datagram opens a new one (round-robin moves on)', async () => {
    const clock = new FakeClock();
    const { relay, port } = await startRelay([await udpBackend('b0'), await udpBackend('b1')], clock);
    const c = await client();
    const first = await ask(c, port);
    await clock.advance(200);
    assert.equal(relay.flows.size, 1, 'not idle yet');
    assert.equal((await ask(c, port)).text, first.text);
    await clock.advance(300);
    assert.equal(relay.flows.size, 0, 'idled out');
    assert.equal(relay.counters.flowsIdledOut, 1);
    const next = await ask(c, port);
    assert.notEqual(next.text.split(' ')[0], first.text.split(' ')[0]);
  });

  it('sends a request a backend answers with port-unreachable to another backend: the client gets its reply', async () => {
    const clock = new FakeClock();
    const deadPort = await closedPort();
    const { relay, port } = await startRelay([loopbackBackend(deadPort), await udpBackend('alive')], clock);
    const c = await client();
    // The first pick is the dead backend: its ICMP error moves the flow, with the request, to the live one.
    const reply = await ask(c, port);
    assert.match(reply.text, /^alive /);
    assert.equal(relay.counters.flowsOpened, 1);
    assert.equal(relay.counters.flowsRetried, 1);
    // The same flow goes on with the live backend.
    assert.match((await ask(c, port)).text, /^alive /);
    assert.equal(relay.counters.flowsOpened, 1);
  });

  it(`gives up a flow after ${UDP_ATTEMPTS} backends that all answer with port-unreachable`, async () => {
    const clock = new FakeClock();
    const { relay, port } = await startRelay([loopbackBackend(await closedPort())], clock);
    const c = await client();
    c.send('lost', port, '127.0.0.1');
    await until(() => relay.counters.flowsOpened === 1 && relay.flows.size === 0);
    assert.equal(relay.counters.flowsRetried, UDP_ATTEMPTS - 1);
  });

  it('drops datagrams when there is no backend, and stops on close', async () => {
    const clock = new FakeClock();
    const { relay, port } = await startRelay([], clock);
    const c = await client();
    c.send('nobody', port, '127.0.0.1');
    await until(() => relay.counters.dropped === 1);
    assert.equal(relay.flows.size, 0);
    await relay.close();
    assert.equal(clock.pendingTimers, 0);
  });

  it('binds [::] IPv6-only: the IPv4 Proxier keeps 0.0.0.0 on the same port', async () => {
    const clock = new FakeClock();
    const v4 = new UdpRelay(new Balancer(clock), 'udp4', { idleTimeoutMs: 250, clock });
    const v6 = new UdpRelay(new Balancer(clock), 'udp6', { idleTimeoutMs: 250, clock });
    try {
      const port = await v4.listen('0.0.0.0', 0);
      assert.equal(await v6.listen('::', port), port);
    } finally {
      await v4.close();
      await v6.close();
    }
  });
});
