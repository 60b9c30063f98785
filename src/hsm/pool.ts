// A pool of PKCS#11 sessions on one token, logged in once as the crypto user.
// A session runs one operation at a time (else CKR_OPERATION_ACTIVE), so each
// caller borrows a whole session and waits in line when all are busy. The pool
// never logs out: the OpenSSL engine in this process shares the login.
import pkcs11js from 'pkcs11js';
import { acquireModule, findTokenSlot, type Handle, isPkcs11Error, type Pkcs11, releaseModule } from './module.js';

export interface PoolOptions {
  modulePath: string;
  tokenLabel: string;
  userPin: string;
  size?: number;
}

export class SessionPool {
  readonly lib: Pkcs11;
  readonly slot: Handle;
  private readonly sessions: Handle[] = [];
  private readonly idle: Handle[] = [];
  // A queue as array and head index: shift() on thousands of waiters would cost more than the signatures.
  private waiting: ({ resolve: (session: Handle) => void; reject: (error: Error) => void } | undefined)[] = [];
  private head = 0;
  private closed = false;

  private constructor(
    private readonly options: PoolOptions,
    lib: Pkcs11,
  ) {
    this.lib = lib;
    this.slot = findTokenSlot(lib, options.tokenLabel);
  }

  static open(options: PoolOptions): SessionPool {
    const lib = acquireModule(options.modulePath);
    let pool: SessionPool | undefined;
    try {
      pool = new SessionPool(options, lib);
      pool.start(options.size ?? 4);
      return pool;
    } catch (error) {
      if (pool) pool.close();
      else releaseModule(options.modulePath);
      throw error;
    }
  }

  private start(size: number): void {
    for (let i = 0; i < size; i++) {
      const session = this.lib.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      this.sessions.push(session);
      this.idle.push(session);
    }
    try {
      this.lib.C_Login(this.sessions[0]!, pkcs11js.CKU_USER, this.options.userPin);
    } catch (error) {
      // Login is per token and process: the OpenSSL engine may have logged in first.
      if (!isPkcs11Error(error, pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) throw error;
    }
  }

  get size(): number {
    return this.sessions.length;
  }

  /** Runs `work` with a session of its own; the session goes back to the pool when the promise settles. */
  async run<T>(work: (session: Handle, lib: Pkcs11) => T | Promise<T>): Promise<T> {
    const session = await this.borrow();
    try {
      return await work(session, this.lib);
    } finally {
      this.giveBack(session);
    }
  }

  private borrow(): Promise<Handle> {
    if (this.closed) return Promise.reject(new Error('the HSM session pool is closed'));
    const session = this.idle.pop();
    if (session) return Promise.resolve(session);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private giveBack(session: Handle): void {
    const next = this.waiting[this.head];
    if (next) {
      this.waiting[this.head++] = undefined;
      if (this.head === this.waiting.length) {
        this.waiting = [];
        this.head = 0;
      }
      next.resolve(session);
    } else this.idle.push(session);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiting.slice(this.head)) waiter?.reject(new Error('the HSM session pool is closed'));
    this.waiting = [];
    for (const session of this.sessions) {
      try {
        this.lib.C_CloseSession(session);
      } catch {}
    }
    releaseModule(this.options.modulePath);
  }
}

/** C_Sign on the libuv thread pool, so the event loop keeps serving while the HSM works. */
export function signAsync(lib: Pkcs11, session: Handle, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    lib.C_Sign(session, data, Buffer.alloc(1024), (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}
