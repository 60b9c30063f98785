// All listeners of the committed configuration. `apply` brings the running
// listeners in line with a new configuration: new ones start, removed ones
// stop, changed ones get a new endpoint (or a new socket when their address or
// port changed), and sessions already open are never dropped.
import { isDeepStrictEqual } from 'node:util';
import type { ApplianceConfig, Listener } from '../os/config/schema.js';
import { ListenerSocket } from './listener.js';
import { type EndpointSection, endpointSections, type GatewayDependencies, SmtpEndpoint } from './smtp-endpoint.js';

export class Gateway {
  private readonly listeners = new Map<string, ListenerSocket>();
  /** The sections besides its listener that an endpoint is built from (a CRL or LDAP edit rebuilds none). */
  private endpointInputs: Pick<ApplianceConfig, EndpointSection> | undefined;

  constructor(private readonly deps: GatewayDependencies) {}

  async apply(config: ApplianceConfig): Promise<void> {
    const inputs = Object.fromEntries(endpointSections.map((section) => [section, config[section]])) as Pick<ApplianceConfig, EndpointSection>;
    const inputsChanged = !isDeepStrictEqual(this.endpointInputs, inputs);
    this.endpointInputs = inputs;
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
      else if (inputsChanged || !isDeepStrictEqual(running.config, listener)) {
        running.replaceEndpoint(await SmtpEndpoint.create(listener, config, this.deps));
        this.deps.logs.write('mail', 'info', `Listener ${listener.name}: new settings for new connections; open sessions keep the ones they began with`);
      }
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
