// Who acts: every administration operation takes the acting user, with the role
// the committed configuration gives the account now, and where the request came
// from (the console's tty or SSH client, or the web client's address).
import { type Role, roleOf } from '../os/config/authorization.js';
import type { Runtime } from '../os/runtime.js';

export type { Role };
export type ActorSource = 'serial' | 'ssh' | 'local' | 'web';

export interface Actor {
  user: string;
  role: Role;
  source: ActorSource;
  /** The client IP (SSH, web) or the tty (serial, local). */
  from?: string;
  /** In FIPS management mode every change commits at once. */
  fipsMode?: boolean;
}

/** The actor for a login, its role read from the committed configuration at every call, so a demotion takes effect at once. */
export function actorFor(runtime: Runtime, who: { user: string; source: ActorSource; from?: string }): Actor {
  return { ...who, role: roleOf(runtime.store.committed().config, who.user) };
}
