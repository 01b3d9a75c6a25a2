// IpAccessPolicy: its parser and its step (deny wins over allow; addresses matched by cidr.ts).
import type { FieldReader, Json } from '../routes/field-reader.js';
import { CONTINUE, refusal, type StepResult } from '../chain.js';
import { anyContains, parseCidr, type Cidr } from './cidr.js';
import type { Named, PolicyExchange, PolicyModule } from './policy.js';

/** A parsed IpAccessPolicy: deny wins over allow; an empty allow list allows everyone not denied. */
export interface IpAccessConfig {
  readonly allow: readonly Cidr[];
  readonly deny: readonly Cidr[];
}

/** Reads an IpAccessPolicy spec. */
export function parseIpAccessPolicy(spec: Json, r: FieldReader): IpAccessConfig | undefined {
  r.known(spec, 'spec', ['targetRef', 'allow', 'deny']);
  const cidrs = (key: 'allow' | 'deny'): Cidr[] =>
    r.strs(spec, key, 'spec').flatMap((c, i) => {
      const p = parseCidr(c);
      if (typeof p === 'string') {
        r.problem(`spec.${key}[${i}]`, p);
        return [];
      }
      return [p];
    });
  const cfg: IpAccessConfig = { allow: cidrs('allow'), deny: cidrs('deny') };
  if (cfg.allow.length === 0 && cfg.deny.length === 0) r.problem('spec', 'needs allow or deny entries');
  return cfg;
}

/** Refuses a client address the lists do not allow. */
export function ipAccessStep(x: PolicyExchange, policy: Named<IpAccessConfig>): StepResult {
  const { allow, deny } = policy.value;
  if (anyContains(deny, x.client) || (allow.length > 0 && !anyContains(allow, x.client))) {
    return refusal('WEFT_ERR_IP_DENIED', `${x.client} is not allowed`, undefined, policy.name);
  }
  return CONTINUE;
}

/** The IpAccessPolicy kind. */
export const ipAccessPolicy: PolicyModule<IpAccessConfig> = { kind: 'IpAccessPolicy', parse: parseIpAccessPolicy, step: ipAccessStep };
