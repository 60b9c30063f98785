// Brings a configuration written by an earlier firmware up to the current
// schema before it is validated: revisions on disk and saved files alike.
// Each step names what it renames or converts; keep them forever.
type Raw = Record<string, unknown>;

const steps: ((config: Raw) => void)[] = [
  // Console timeouts moved from minutes to seconds, one per kind of session.
  (config) => {
    const system = config.system as Raw | undefined;
    if (!system) return;
    if (typeof system.serialDisconnectTimeoutMinutes === 'number') system.serialIdleTimeoutSeconds ??= system.serialDisconnectTimeoutMinutes * 60;
    if (typeof system.cliIdleTimeoutMinutes === 'number') system.sshIdleTimeoutSeconds ??= system.cliIdleTimeoutMinutes * 60;
    delete system.serialDisconnectTimeoutMinutes;
    delete system.cliIdleTimeoutMinutes;
  },
];

export function migrateConfig(input: unknown): unknown {
  if (typeof input !== 'object' || input === null) return input;
  const config = structuredClone(input) as Raw;
  for (const step of steps) step(config);
  return config;
}
