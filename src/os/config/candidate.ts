// A console session's own draft of the configuration. Edits stay here until
// `commit`; `clear` throws them away; `rollback N` loads revision N into it.
import { isDeepStrictEqual } from 'node:util';
import { createTwoFilesPatch } from 'diff';
import type { ApplianceConfig, CommitSource } from './schema.js';
import { maskSecrets } from './secrets.js';
import type { CommitAuthor, ConfigStore, RevisionMeta } from './store.js';

/** What changed from one configuration to another, secrets masked (a changed one reads "***** (changed)"). */
export function configDiff(from: ApplianceConfig, to: ApplianceConfig, fromName: string, toName: string): string {
  const before = `${JSON.stringify(maskSecrets(from), null, 2)}\n`;
  const after = `${JSON.stringify(maskSecrets(to, from), null, 2)}\n`;
  return createTwoFilesPatch(fromName, toName, before, after, '', '', { context: 2 });
}

export class NothingToCommitError extends Error {}

export class Candidate {
  private baseRevision: number;
  private base: ApplianceConfig;
  /** The draft. Edit it in place; validation happens at commit. */
  config: ApplianceConfig;

  constructor(
    private readonly store: ConfigStore,
    private readonly author: CommitAuthor,
  ) {
    const committed = store.committed();
    this.baseRevision = committed.meta.revision;
    this.base = committed.config;
    this.config = structuredClone(committed.config);
  }

  get pending(): boolean {
    return !isDeepStrictEqual(this.config, this.base);
  }

  get revision(): number {
    return this.baseRevision;
  }

  /** Applies an edit to a copy, and keeps it only if the edit did not throw. */
  edit(change: (draft: ApplianceConfig) => void): void {
    const draft = structuredClone(this.config);
    change(draft);
    this.config = draft;
  }

  clear(): void {
    const committed = this.store.committed();
    this.baseRevision = committed.meta.revision;
    this.base = committed.config;
    this.config = structuredClone(committed.config);
  }

  rollback(revision: number): RevisionMeta {
    const target = this.store.revision(revision);
    this.config = structuredClone(target.config);
    return target.meta;
  }

  diff(): string {
    return configDiff(this.base, this.config, `revision ${this.baseRevision}`, 'candidate');
  }

  /**
   * Commits the candidate. With nothing pending, a plain commit confirms a pending
   * `commit confirmed` (as any later commit does) and otherwise says so.
   */
  async commit(comment = '', confirmMinutes?: number, source?: CommitSource): Promise<RevisionMeta> {
    if (!this.pending) {
      const confirmed = await this.store.confirm();
      if (confirmed === undefined) throw new NothingToCommitError('there are no changes to commit');
      return this.store.revision(confirmed).meta;
    }
    const meta = await this.store.commit(this.config, {
      ...this.author,
      ...(source ? { source } : {}),
      comment,
      baseRevision: this.baseRevision,
      ...(confirmMinutes === undefined ? {} : { confirmMinutes }),
    });
    this.clear();
    return meta;
  }
}
