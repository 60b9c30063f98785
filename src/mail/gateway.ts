// All listeners of the committed configuration. `apply` brings the running
// listeners in line with a new configuration: new ones start, removed ones
// stop, changed ones get a new endpoint (or a new socket when their address or
// port changed), and sessions already open are never dropped.
import { isDeepStrictEqual } from 'node:util';
import type { ApplianceConfig, Listener } from '../os/config/schema.js';
import { ListenerSocket } from './listener.js';
import { type GatewayDependencies, SmtpEndpoint } from './smtp-endpoint.js';

export class Gateway {
  private readonly listeners = new Map<string, ListenerSocket>();
  private globals: Pick<ApplianceConfig, 'certificates' | 'system' | 'crl' | 'smtpAuth' | 'ldap'> | undefined;

  constructor(private readonly deps: GatewayDependencies) {}

  async apply(config: ApplianceConfig): Promise<void> {
    const globals = { certificates: config.certificates, system: config.system, crl: config.crl, smtpAuth: config.smtpAuth, ldap: config.ldap };
    const globalsChanged = !isDeepStrictEqual(this.globals, globals);
    this.globals = globals;
    const wanted = new Map(config.listeners.map((l) => [l.name, l]));
    for (const [name, running] of this.listeners) {
      const next = wanted.get(name);
      if (!next || next.address !== running.config.address || next.port !== running.config.port) {
        await running.close();
        this.listeners.delete(name);
      }
    }
    for (const listener of wanted.values()) {
      const running = this.listeners.get(listener.name);
      if (!running) await this.start(listener, config);
      else if (globalsChanged || !isDeepStrictEqual(running.config, listener)) running.replaceEndpoint(await SmtpEndpoint.create(listener, config, this.deps));
    }
  }

  status(): string[] {
    return [...this.listeners.values()].map((l) => l.status);
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners.values()].map((l) => l.close()));
    this.listeners.clear();
  }

  private async start(listener: Listener, config: ApplianceConfig): Promise<void> {
    const socket = new ListenerSocket(await SmtpEndpoint.create(listener, config, this.deps));
    try {
      await socket.listen();
      this.listeners.set(listener.name, socket);
    } catch (err) {
      this.deps.logger.error({ err, listener: listener.name }, 'listener cannot start');
      this.deps.logs.write('mail', 'critical', `Listener ${listener.name} cannot listen on ${listener.address}:${listener.port}: ${(err as Error).message}`);
    }
  }
}
