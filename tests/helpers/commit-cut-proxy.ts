import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * How the proxy ends the session of the connection that sent the matching statement:
 *  - `committed`: once the server answers that the transaction holding the statement has ended (ReadyForQuery with
 *    status idle: the COMMIT of its transaction, or the statement itself when it ran alone), the connection is cut
 *    and that answer never reaches the client: the write committed, the client cannot know it (a failover at COMMIT);
 *  - `before-commit`: the client's COMMIT of that transaction is not forwarded and the connection is cut, so the
 *    server rolls back; the client sees the same lost session at its COMMIT. A statement that ran alone (no
 *    transaction) committed at once: the connection is cut after its answer, as `committed` does.
 */
export type CutMode = 'committed' | 'before-commit';

export interface CommitCutProxy {
  /** A connection URL like the target's, through the proxy. */
  url: string;
  /**
   * Arms one cut (replacing one still armed): the next statement whose SQL matches `statement` decides the
   * connection; resolves once it is cut.
   */
  cutAfter(statement: RegExp, mode: CutMode): Promise<void>;
  close(): Promise<void>;
}

interface Armed {
  statement: RegExp;
  mode: CutMode;
  done: () => void;
}

const SSL_REQUEST = 80877103;

/** The SQL text of a simple query ('Q') or parse ('P') message, else undefined. */
function sqlOf(message: Buffer): string | undefined {
  const type = String.fromCharCode(message[0] ?? 0);
  if (type === 'Q') {
    return message.subarray(5, message.length - 1).toString('utf8');
  }
  if (type === 'P') {
    const nameEnd = message.indexOf(0, 5);
    return message.subarray(nameEnd + 1, message.indexOf(0, nameEnd + 1)).toString('utf8');
  }
  return undefined;
}

/**
 * A TCP proxy in front of Postgres that loses one session at the moment a test chooses: around the COMMIT of the
 * transaction that ran a given statement (see `CutMode`). The server side is real: what committed is in the
 * database, what did not was rolled back by Postgres when its session ended. Plain connections only (no TLS).
 */
export async function commitCutProxy(targetUrl: string): Promise<CommitCutProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let armed: Armed | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
    /** This connection's cut, once it sent the armed statement. */
    let mine: Armed | undefined;
    let fromClient = Buffer.alloc(0);
    let started = false;
    const cut = () => {
      const done = mine?.done;
      mine = undefined;
      end();
      done?.();
    };
    client.on('data', (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      const out: Buffer[] = [];
      for (;;) {
        if (!started) {
          // The startup message (or an SSL request before it) has a length and no type byte.
          if (fromClient.length < 8) {
            break;
          }
          const size = fromClient.readInt32BE(0);
          if (fromClient.length < size) {
            break;
          }
          started = fromClient.readInt32BE(4) !== SSL_REQUEST;
          out.push(fromClient.subarray(0, size));
          fromClient = fromClient.subarray(size);
          continue;
        }
        if (fromClient.length < 5) {
          break;
        }
        const size = 1 + fromClient.readInt32BE(1);
        if (fromClient.length < size) {
          break;
        }
        const message = fromClient.subarray(0, size);
        fromClient = fromClient.subarray(size);
        const text = sqlOf(message);
        if (text !== undefined && armed !== undefined && mine === undefined && armed.statement.test(text)) {
          mine = armed;
          armed = undefined;
        }
        if (mine?.mode === 'before-commit' && text !== undefined && /^\s*commit\s*;?\s*$/i.test(text)) {
          upstream.write(Buffer.concat(out));
          cut();
          return;
        }
        out.push(message);
      }
      if (out.length > 0) {
        upstream.write(Buffer.concat(out));
      }
    });
    // Server to client: every message is a type byte and an int32 length (which counts itself).
    let fromServer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      fromServer = Buffer.concat([fromServer, chunk]);
      const out: Buffer[] = [];
      while (fromServer.length >= 5) {
        const size = 1 + fromServer.readInt32BE(1);
        if (fromServer.length < size) {
          break;
        }
        const message = fromServer.subarray(0, size);
        fromServer = fromServer.subarray(size);
        // ReadyForQuery 'Z' with status 'I': no transaction open any more, the statement's effect is final.
        if (mine !== undefined && message[0] === 0x5a && message[5] === 0x49) {
          // What the client had not been sent yet of this answer is lost with the connection.
          cut();
          return;
        }
        out.push(message);
      }
      if (out.length > 0) {
        client.write(Buffer.concat(out));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    cutAfter(statement, mode) {
      return new Promise<void>((resolve) => {
        armed = { statement, mode, done: resolve };
      });
    },
    async close() {
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
