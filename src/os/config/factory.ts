// The configuration an appliance starts from before anyone has committed.
import type { ApplianceConfigInput } from './schema.js';

export function factoryConfig(hostname = 'appliance.localdomain'): ApplianceConfigInput {
  return {
    system: { hostname },
    logs: {
      subscriptions: [
        { name: 'mail_logs', type: 'mail' },
        { name: 'authentication', type: 'authentication' },
        { name: 'crl_logs', type: 'crl' },
        { name: 'fips_logs', type: 'fips' },
        { name: 'system_logs', type: 'system' },
        { name: 'cli_logs', type: 'cli-audit' },
      ],
    },
  };
}
