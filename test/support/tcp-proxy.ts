import net from 'node:net';

/**
 * A TCP proxy in front of Postgres or Redis whose link the test can cut and restore, to simulate an
 * outage of that service for one trackql instance without disturbing anything else using the server.
 */
export interface TcpProxy {
  port: number;
  /** Drops every open connection and refuses new ones until `restore()`. */
  cut(): void;
  restore(): void;
  /**
   * The ambiguous commit (PostgreSQL only): the next chunk a client sends that contains `trigger` (e.g. a
   * statement's text, or `commit`) reaches the server, but the server's answer to it, up to its ReadyForQuery,
   * is swallowed and that connection is dropped, so the server has committed and the client only sees a broken
   * connection. Resolves once that happened.
   */
  cutAfterReply(trigger: string): Promise<void>;
  /**
   * A stall (a network partition, a frozen host): connections stay open but nothing is forwarded either way, and
   * new connections are accepted and left unanswered, until `resume()`, which forwards what was held.
   */
  stall(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let up = true;
  let stalled = false;
  /** What a stall holds back: writes to do on resume, in order. */
  let held: Array<() => void> = [];
  const forward = (write: () => void) => (stalled ? held.push(write) : write());
  const sockets = new Set<net.Socket>();
  let trap: { trigger: Buffer; fired: () => void } | undefined;
  const server = net.createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    /** Set when this connection carried the trap's trigger: its next answer is swallowed. */
    let armed: (() => void) | undefined;
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (trap && chunk.includes(trap.trigger)) {
        armed = trap.fired;
        trap = undefined;
      }
      forward(() => upstream.write(chunk));
    });
    upstream.on('data', (chunk: Buffer) => {
      if (armed) {
        // Swallow the answer up to the server's ReadyForQuery (PostgreSQL protocol: 'Z', length 5, status),
        // which it sends once the statement, and so the commit, is done; then break the connection.
        if (!endsWithReadyForQuery(chunk)) return;
        const fired = armed;
        armed = undefined;
        drop();
        fired();
        return;
      }
      forward(() => client.write(chunk));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      up = false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    restore() {
      up = true;
    },
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      const writes = held;
      held = [];
      for (const write of writes) write();
    },
    cutAfterReply(trigger) {
      return new Promise<void>((resolve) => {
        trap = { trigger: Buffer.from(trigger), fired: resolve };
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Whether a chunk from PostgreSQL ends with a ReadyForQuery message ('Z', int32 length 5, one status byte). */
function endsWithReadyForQuery(chunk: Buffer): boolean {
  return chunk.length >= 6 && chunk[chunk.length - 6] === 0x5a && chunk.readInt32BE(chunk.length - 5) === 5;
}

/** `url` with its host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}
