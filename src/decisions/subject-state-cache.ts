import type { WriteWatch } from '../db/write-watch.js';
import type { SubjectState } from './decide.js';

/** The tables a subject's decision state is read from (subject-state-store.ts). */
const stateTables = ['subjects', 'subject_purpose_state', 'vault_records'] as const;

/**
 * Subject states as single decisions read them, kept in memory: a decision runs
 * on every send and page view, and reading the state is most of its cost.
 *
 * An entry is only used while none of the state tables has had a committed
 * write since it was read (`writes`: this process's writes at once, other
 * processes' when their notification arrives), and for at most `maxAgeMs`.
 * While other processes' writes could go unseen (`writes.live()` false) it
 * reads through. The answer itself is worked out on every call, so retention
 * deadlines pass on time.
 */
export type StateKey = { tenantId: string; subjectId: string; purpose: string; collected: boolean };

export function createSubjectStateCache(deps: {
  writes: WriteWatch;
  /** Reads one subject's state from the database (undefined: no such subject). */
  load: (key: StateKey) => Promise<SubjectState | undefined>;
  maxEntries?: number;
  maxAgeMs?: number;
  now?: () => number;
}) {
  const maxEntries = deps.maxEntries ?? 50_000;
  const maxAgeMs = deps.maxAgeMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const entries = new Map<string, { state: SubjectState | undefined; at: number; until: number }>();

  const stateVersion = () => {
    let version = 0;
    for (const table of stateTables) version += deps.writes.version(table);
    return version;
  };

  return {
    /** The subject's state from memory, or from the database (undefined: no such subject). */
    async get(key: StateKey): Promise<SubjectState | undefined> {
      if (!deps.writes.live()) return deps.load(key);
      const id = `${key.tenantId}\n${key.subjectId}\n${key.purpose}\n${key.collected ? 1 : 0}`;
      // Read before loading: a write that commits while the load runs leaves
      // the entry already out of date.
      const version = stateVersion();
      const hit = entries.get(id);
      if (hit && hit.at === version && hit.until > now()) return hit.state;
      const state = await deps.load(key);
      if (!hit && entries.size >= maxEntries) {
        // The oldest entry goes (a Map iterates in insertion order).
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      entries.set(id, { state, at: version, until: now() + maxAgeMs });
      return state;
    },
  };
}

export type SubjectStateCache = ReturnType<typeof createSubjectStateCache>;
