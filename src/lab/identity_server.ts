/**
 * The backend "pod" server of the lab: a small real server that answers with its own identity, so that a
 * test can tell which backend a connection reached. Run as a child process inside a pod namespace (see
 * {@link createLab}); it prints `ready` on stdout once every socket listens.
 *
 * - HTTP (`--http-port`): `GET /` answers `200` with the body `<name>\n`, keep-alive, so curl and wrk work.
 * - Banner (`--banner-port`): writes `<name>\n` on connect, then echoes everything back; ends its side when
 *   the client ends its side (half-close), so streams and half-close can be tested through a proxy.
 * - UDP (`--udp-port`): replies `<name>` to every datagram.
 *
 * @example node identity_server.ts --name pod0 --http-port 8080 --banner-port 9000 --udp-port 9000
 * @module
 */
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { isMainModule } from './node_child.ts';

/** Where and as whom an identity server answers. */
export interface IdentityServerOptions {
  readonly name: string;
  readonly host: string;
  /** 0 = no such listener. */
  readonly httpPort: number;
  readonly bannerPort: number;
  readonly udpPort: number;
}

/** A running identity server. */
export interface IdentityServer {
  close(): Promise<void>;
}

/**
 * Starts the listeners of an identity server in this process.
 *
 * @param options name, address and ports
 * @returns the running server, once every listener listens
 * @example const server = await startIdentityServer({ name: 'pod0', host: '127.0.0.1', httpPort: 0, bannerPort: 9000, udpPort: 0 })
 */
export async function startIdentityServer(options: IdentityServerOptions): Promise<IdentityServer> {
  const closers: (() => Promise<void>)[] = [];
  const body = `${options.name}\n`;
  if (options.httpPort !== 0) {
    const http = createHttpServer({ keepAlive: true }, (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await listenTcp(http, options.httpPort, options.host);
    closers.push(() => closeServer(http));
  }
  if (options.bannerPort !== 0) {
    const banner = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
      socket.on('error', () => socket.destroy());
      socket.write(body);
      socket.pipe(socket);
    });
    await listenTcp(banner, options.bannerPort, options.host);
    closers.push(() => closeServer(banner));
  }
  if (options.udpPort !== 0) {
    const udp = createSocket(options.host.includes(':') ? 'udp6' : 'udp4');
    const reply = Buffer.from(options.name);
    udp.on('message', (_msg, rinfo) => udp.send(reply, rinfo.port, rinfo.address));
    udp.on('error', () => {
      /* a reply to a vanished client is not the server's problem */
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(options.udpPort, options.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    closers.push(() => new Promise<void>((resolve) => udp.close(() => resolve())));
  }
  return {
    async close() {
      await Promise.all(closers.map((close) => close()));
    },
  };
}

function listenTcp(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if ('closeAllConnections' in server && typeof server.closeAllConnections === 'function') {
      server.closeAllConnections();
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      host: { type: 'string', default: '0.0.0.0' },
      'http-port': { type: 'string', default: '0' },
      'banner-port': { type: 'string', default: '0' },
      'udp-port': { type: 'string', default: '0' },
    },
  });
  if (values.name === undefined) throw new Error('Missing option: --name');
  await startIdentityServer({
    name: values.name,
    host: values.host,
    httpPort: Number(values['http-port']),
    bannerPort: Number(values['banner-port']),
    udpPort: Number(values['udp-port']),
  });
  process.stdout.write('ready\n');
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
