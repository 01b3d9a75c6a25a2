// The steps between the policies and the pick: the rule's filters (redirect, header modifiers,
// rewrite, mirror) and the weighted choice of a backend with its own filters.
import { answer, CONTINUE, refusal, type Step } from '../chain.js';
import type { Exchange } from '../exchange.js';
import { mirrorFires, modifyHeaders, redirectLocation, rewritePath } from '../routes/filters.js';
import { pickWeighted } from '../routes/route-table.js';

/** Applies the matched rule's filters in order; a redirect answers here. */
export function applyFilters(random: () => number): Step<Exchange> {
  return (x) => {
    const match = x.match;
    if (!match) throw new Error('filters ran before a route matched');
    for (const f of match.rule.filters) {
      switch (f.type) {
        case 'RequestRedirect': {
          const scheme = x.protocol === 'HTTPS' ? 'https' : 'http';
          const location = redirectLocation(f, { scheme, host: x.host, path: x.path, search: x.upstreamSearch }, match.listener.port, match.match.path);
          x.backend = 'redirect';
          const headers: Record<string, string> = { location, 'content-length': '0' };
          Object.assign(headers, x.corsHeaders);
          return answer(f.statusCode, headers);
        }
        case 'RequestHeaderModifier':
          x.headers = modifyHeaders(x.headers, f.modifier);
          break;
        case 'ResponseHeaderModifier':
          x.responseMods.push(f.modifier);
          break;
        case 'URLRewrite':
          if (f.hostname !== undefined) x.upstreamHost = f.hostname;
          x.upstreamPath = rewritePath(x.upstreamPath, f.path, match.match.path);
          break;
        case 'RequestMirror':
          if (mirrorFires(f.percent, random)) x.mirrors.push(f);
          break;
      }
    }
    return CONTINUE;
  };
}

/** Picks one of the rule's backends by weight and applies that backend's own filters. */
export function chooseBackend(random: () => number): Step<Exchange> {
  return (x) => {
    const rule = x.match?.rule;
    if (!rule) throw new Error('a backend was chosen before a route matched');
    const backend = pickWeighted(rule.backends, random);
    if (!backend) return refusal('WEFT_ERR_BACKEND_INVALID', `rule ${rule.route.label} has no backend with a weight above 0`);
    x.backend = backend.label;
    if (backend.kind === 'invalid') return refusal('WEFT_ERR_BACKEND_INVALID', backend.reason);
    for (const f of backend.filters) {
      if (f.type === 'RequestHeaderModifier') x.headers = modifyHeaders(x.headers, f.modifier);
      else if (f.type === 'ResponseHeaderModifier') x.responseMods.push(f.modifier);
      else if (f.type === 'RequestMirror' && mirrorFires(f.percent, random)) x.mirrors.push(f);
    }
    x.target = backend;
    return CONTINUE;
  };
}
