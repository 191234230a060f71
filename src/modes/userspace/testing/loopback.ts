/**
 * Loopback helpers for the relay tests: backends that accept, refuse or never answer, and small waits on
 * real sockets.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Backend } from '../balancer.ts';

/** A backend on 127.0.0.1. */
export function loopbackBackend(port: number): Backend {
  return { ip: '127.0.0.1', port, address: `127.0.0.1:${port}` };
}

/** A TCP server on 127.0.0.1 with a connection handler; returns it listening and its port. */
export async function tcpServer(
  handler: (socket: Socket) => void,
): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

/** A port on 127.0.0.1 where nothing listens (connections are refused). */
export async function refusingPort(): Promise<number> {
  const { server, port } = await tcpServer(() => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A port on 127.0.0.1 that never completes a connect: a listening socket (in a perl child, which never
 * calls accept) with backlog 0 whose single accept-queue slot is already taken, so the kernel drops
 * further SYNs.
 */
export async function blackHole(): Promise<{ port: number; close(): void }> {
  const child: ChildProcess = spawn('perl', [
    '-MSocket',
    '-e',
    'socket(S,PF_INET,SOCK_STREAM,0) or die; bind(S, sockaddr_in(0, INADDR_LOOPBACK)) or die; listen(S,0) or die; my ($p) = sockaddr_in(getsockname(S)); $|=1; print "$p\\n"; sleep 120;',
  ]);
  const [data] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(data.toString().trim());
  const filler = connect(port, '127.0.0.1');
  await once(filler, 'connect');
  return {
    port,
    close() {
      filler.destroy();
      child.kill('SIGKILL');
    },
  };
}

/** Reads a socket to its end. */
export async function readAll(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  return Buffer.concat(chunks).toString('utf8');
}

/** Connects to 127.0.0.1:port, with half-close allowed. */
export async function dial(port: number): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}
