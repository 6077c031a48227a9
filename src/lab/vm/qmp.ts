// A minimal QMP client (qemu's JSON machine protocol) over the VM's unix socket: one
// command at a time, asynchronous events skipped. Enough to pause, migrate to a file
// (a saved VM) and resume; no library does this for Node.
import { createConnection, type Socket } from 'node:net';
import { LabCommandError, LabTimeoutError } from '../errors.js';

interface QmpReply {
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  QMP?: unknown;
}

export class QmpClient {
  private buffer = '';
  private waiting: ((msg: QmpReply) => void)[] = [];
  private failure: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly path: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as QmpReply;
        if (msg.event) continue;
        this.waiting.shift()?.(msg);
      }
    });
    const fail = (e: Error) => {
      this.failure = e;
      for (const w of this.waiting.splice(0)) w({ error: { class: 'Disconnected', desc: e.message } });
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('QMP socket closed')));
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const socket = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) => reject(new LabCommandError(`cannot connect to QMP at ${path}: ${e.message}`, { path })));
    });
    const client = new QmpClient(socket, path);
    await client.next(timeoutMs); // greeting
    await client.execute('qmp_capabilities');
    return client;
  }

  private next(timeoutMs: number): Promise<QmpReply> {
    if (this.failure) return Promise.resolve({ error: { class: 'Disconnected', desc: this.failure.message } });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new LabTimeoutError(`QMP at ${this.path}: no reply within ${timeoutMs} ms`, { path: this.path })), timeoutMs);
      this.waiting.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  }

  async execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    const reply = this.next(timeoutMs);
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const msg = await reply;
    if (msg.error) throw new LabCommandError(`QMP ${command} at ${this.path}: ${msg.error.class}: ${msg.error.desc}`, { path: this.path });
    return msg.return as T;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs `f` with a connected client and always closes it. */
export async function withQmp<T>(path: string, f: (qmp: QmpClient) => Promise<T>): Promise<T> {
  const qmp = await QmpClient.connect(path);
  try {
    return await f(qmp);
  } finally {
    qmp.close();
  }
}
