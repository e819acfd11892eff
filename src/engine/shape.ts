/**
 * Response shapes, for noticing a third party changing its API when a
 * task declares no `expect` schema: the shape of each response is recorded per task, and a field that
 * disappeared or changed type since the last response is reported. New fields are not drift: adding
 * is how APIs evolve compatibly.
 */
export type Shape = string | { [key: string]: Shape } | Shape[];

export function shapeOf(v: unknown): Shape {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return v.length ? [shapeOf(v[0])] : [];
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shapeOf(x)]));
  return typeof v;
}

export interface Drift {
  missing: string[];
  changed: { path: string; was: string; now: string }[];
}

const kind = (s: Shape): string => (typeof s === 'string' ? s : Array.isArray(s) ? 'array' : 'object');

/** What `now` lost or changed against `was`; undefined when nothing did. */
export function driftBetween(was: Shape, now: Shape, path = 'body'): Drift | undefined {
  const drift: Drift = { missing: [], changed: [] };
  const walk = (a: Shape, b: Shape, p: string) => {
    // null says nothing about the field's type; a value appearing or going null is not drift.
    if (a === 'null' || b === 'null') return;
    if (kind(a) !== kind(b)) {
      drift.changed.push({ path: p, was: kind(a), now: kind(b) });
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length && b.length) walk(a[0]!, b[0]!, `${p}[]`);
      return;
    }
    if (typeof a === 'object' && typeof b === 'object') {
      const bo = b as Record<string, Shape>;
      for (const [k, sub] of Object.entries(a as Record<string, Shape>)) {
        if (!(k in bo)) drift.missing.push(`${p}.${k}`);
        else walk(sub, bo[k]!, `${p}.${k}`);
      }
    }
  };
  walk(was, now, path);
  return drift.missing.length || drift.changed.length ? drift : undefined;
}

export function describeDrift(d: Drift): string {
  const parts = [...d.missing.map((m) => `${m} is gone`), ...d.changed.map((c) => `${c.path} changed from ${c.was} to ${c.now}`)];
  return parts.join('; ');
}
