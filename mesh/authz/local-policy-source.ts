// Local mode's policy source: the `authorization` section of the local mesh (endpoints) file,
// handed over by the endpoint source on each accepted change. A bad section is refused with a
// coded warning and the last good policies keep deciding.
import { parseYamlOrJson, type LocalEndpointSource } from '../discovery/local-endpoint-source.js';
import { isWeftError } from '../../lib/errors.js';
import { parsePolicySection, type PolicySet } from './policy.js';
import { forNamespace, type PolicySource } from './policy-source.js';
import type { Logger } from '../../lib/logger.js';

/** Policies from the local mesh file's `authorization` section. */
export class LocalPolicySource implements PolicySource {
  readonly #files: LocalEndpointSource;
  readonly #log: Logger;
  readonly #source: string;
  #set: PolicySet | undefined;
  #lastText: string | undefined;
  readonly #listeners = new Map<(set: PolicySet) => void, string>();
  #stop: (() => void) | undefined;

  /** `source` names the file in messages. */
  constructor(files: LocalEndpointSource, log: Logger, source: string) {
    this.#files = files;
    this.#log = log;
    this.#source = source;
  }

  get synced(): boolean {
    return this.#set !== undefined;
  }

  watch(namespace: string, onUpdate: (set: PolicySet) => void): () => void {
    this.#listeners.set(onUpdate, namespace);
    this.#stop ??= this.#files.onText((text) => this.#onText(text));
    if (this.#set) onUpdate(forNamespace(this.#set, namespace));
    return () => this.#listeners.delete(onUpdate);
  }

  #onText(text: string): void {
    let section: unknown;
    try {
      section = (parseYamlOrJson(text) as { authorization?: unknown } | null)?.authorization;
    } catch {
      return; // the endpoint source accepted it, so it parses; nothing to do otherwise
    }
    const sectionText = JSON.stringify(section ?? null);
    // Endpoint-only edits leave the policies alone: no recompile, no log line.
    if (sectionText === this.#lastText) return;
    try {
      this.#set = parsePolicySection(section, this.#source);
    } catch (err) {
      if (!isWeftError(err)) throw err;
      this.#log.warn({ code: err.code, err: err.message }, 'authorization policies refused; keeping the last good ones');
      return;
    }
    this.#lastText = sectionText;
    this.#log.info({ policies: this.#set.policies.length }, 'authorization policies loaded');
    for (const [listener, namespace] of this.#listeners) listener(forNamespace(this.#set, namespace));
  }

  async close(): Promise<void> {
    this.#stop?.();
    this.#listeners.clear();
  }
}
