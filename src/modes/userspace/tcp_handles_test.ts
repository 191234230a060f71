import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BindingLoader, probeTcpHandles } from './tcp_handles.ts';

const real = (process as unknown as { binding: BindingLoader }).binding.bind(process);

/** A loader that answers like Node's, with one binding changed. */
function patched(name: string, change: (binding: Record<string, unknown>) => unknown): BindingLoader {
  return (wanted) => {
    const binding = real(wanted) as Record<string, unknown>;
    return wanted === name ? change({ ...binding }) : binding;
  };
}

describe('probeTcpHandles', () => {
  it("finds Node's TCP handles on this Node, and they open and close a socket", () => {
    const { handles } = probeTcpHandles();
    assert.ok(handles !== undefined);
    assert.equal(handles.UV_EOF, -4095);
    const server = handles.newServer();
    assert.equal(server.bind('127.0.0.1', 0), 0);
    assert.equal(server.listen(1), 0);
    const name: { port?: number } = {};
    assert.equal(server.getsockname(name), 0);
    assert.ok((name.port ?? 0) > 0);
    server.close();
  });

  it('says why when process.binding is missing or refuses', () => {
    assert.deepEqual(probeTcpHandles(null), { why: 'process.binding is not available' });
    const refusing: BindingLoader = () => {
      throw new Error('No such module: tcp_wrap');
    };
    assert.deepEqual(probeTcpHandles(refusing), { why: 'process.binding refused: No such module: tcp_wrap' });
  });

  it('says why when the bindings do not have the shape the engine is written against', () => {
    const noState = patched('stream_wrap', (b) => ({ ...b, streamBaseState: undefined }));
    assert.deepEqual(probeTcpHandles(noState), {
      why: 'tcp_wrap/stream_wrap do not have the expected shape',
    });
    const noReset = patched('tcp_wrap', (b) => {
      const TCP = b.TCP as { prototype: object };
      class OldTCP {}
      for (const key of Object.getOwnPropertyNames(TCP.prototype)) {
        if (key !== 'reset' && key !== 'constructor') {
          Object.defineProperty(OldTCP.prototype, key, { value: () => 0 });
        }
      }
      // Inherited methods (readStart, close...) come from the real prototype chain.
      Object.setPrototypeOf(OldTCP.prototype, Object.getPrototypeOf(TCP.prototype) as object);
      return { ...b, TCP: OldTCP };
    });
    assert.deepEqual(probeTcpHandles(noReset), { why: 'TCP handles have no reset()' });
  });
});
