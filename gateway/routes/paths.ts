// Path rules of the Gateway API and of Ingress: validation, segment-wise prefix matching and the
// ReplacePrefixMatch rewrite. Pure.

/** Returns a problem with a path value used in a match or a filter, or undefined. */
export function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return `path ${JSON.stringify(path)} must start with "/"`;
  if (path.includes('//')) return `path ${JSON.stringify(path)} must not contain "//"`;
  if (/\/\.\.?(\/|$)/.test(path)) return `path ${JSON.stringify(path)} must not contain "/./" or "/../" segments`;
  if (/%2f|%5c/i.test(path)) return `path ${JSON.stringify(path)} must not contain encoded "/" or "\\"`;
  if (path.includes('#') || path.includes('?')) return `path ${JSON.stringify(path)} must not contain "#" or "?"`;
  if (path.length > 1024) return 'path is longer than 1024 characters';
  return undefined;
}

/** Drops one trailing "/" (except for the root "/"): the spec ignores it in prefixes. */
export function trimTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * Segment-wise prefix match (Gateway API PathPrefix and Ingress Prefix): `/abc` and `/abc/`
 * both match `/abc`, `/abc/` and `/abc/def` but not `/abcd`.
 */
export function prefixMatches(prefix: string, path: string): boolean {
  const p = trimTrailingSlash(prefix);
  if (p === '/') return path.startsWith('/');
  if (!path.startsWith(p)) return false;
  return path.length === p.length || path[p.length] === '/';
}

/**
 * ReplacePrefixMatch: swaps the matched prefix for `replacement`, keeping the rest, so that
 * /foo/bar with prefix /foo and replacement /xyz becomes /xyz/bar and "" or "/" give /bar.
 */
export function replacePrefix(path: string, prefix: string, replacement: string): string {
  const p = trimTrailingSlash(prefix);
  const rest = p === '/' ? path : path.slice(p.length);
  const r = replacement.endsWith('/') ? replacement.slice(0, -1) : replacement;
  const joined = r + (rest === '' || rest.startsWith('/') ? rest : '/' + rest);
  return joined === '' ? '/' : joined;
}

/** Gateway API duration ("1h30m", "500ms", "0s") in milliseconds, or a problem string. */
export function parseDuration(text: string): number | string {
  if (!/^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(text)) {
    return `duration ${JSON.stringify(text)} must look like "10s", "1m30s" or "500ms" (GEP-2257)`;
  }
  let ms = 0;
  for (const m of text.matchAll(/([0-9]{1,5})(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return ms;
}
