#!/usr/bin/env node
// Sends one UDP datagram and prints the reply (what `echo hi | nc -u -w1 HOST PORT` does, with only Node):
//   node examples/demo/udp-send.mjs 127.0.0.102 5353 hi
// Exits 0 with the reply on stdout, or 1 after 1 s without one (or on a send error).
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

const [host, port, ...words] = process.argv.slice(2);
const portNumber = Number(port);
if (host === undefined || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
  console.error('usage: node examples/demo/udp-send.mjs HOST PORT [MESSAGE...]   (default message: hi)');
  process.exit(2);
}
const message = words.length > 0 ? words.join(' ') : 'hi';
const socket = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
const timer = setTimeout(() => {
  console.error(`no reply from ${host}:${portNumber} within 1 s`);
  socket.close();
  process.exitCode = 1;
}, 1000);
socket.on('message', (reply) => {
  clearTimeout(timer);
  process.stdout.write(reply.toString().endsWith('\n') ? reply.toString() : `${reply}\n`);
  socket.close();
});
socket.on('error', (error) => {
  clearTimeout(timer);
  console.error(`udp-send: ${error.message}`);
  socket.close();
  process.exitCode = 1;
});
socket.send(`${message}\n`, portNumber, host);
