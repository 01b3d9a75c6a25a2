// The parsed value of a TransformPolicy: what the query step, the request-body step and the
// response hook read. Types only, so the exchange can name it without importing the parser.
import type { JsonEdit } from './json-edit.js';
import type { QueryEdits } from './query-edit.js';

/** The JSON body edits of one direction and the largest body they are applied to. */
export interface BodyEdits {
  readonly maxBytes: number;
  readonly edits: readonly JsonEdit[];
}

/** A parsed TransformPolicy. */
export interface TransformConfig {
  /** Undefined when the policy edits no query parameter. */
  readonly query: QueryEdits | undefined;
  readonly requestBody: BodyEdits | undefined;
  readonly responseBody: BodyEdits | undefined;
}
