// Ordering resourceVersions. Kubernetes made them comparable for objects of one resource
// (KEP-5504, stable in v1.35): a resourceVersion is a decimal integer without leading
// zeros, and the greater one is the newer. The informer needs the order when it relists
// beside an open watch, to tell which of two versions of an object is the newer.

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Can this resourceVersion be ordered against others of its resource? */
export function isOrderedResourceVersion(rv: string | undefined): rv is string {
  return rv !== undefined && DECIMAL.test(rv);
}

/**
 * -1, 0 or 1 as `a` is older than, the same as or newer than `b`; undefined when either is
 * not a decimal resourceVersion (an API server not backed by etcd may send others).
 */
export function compareResourceVersions(
  a: string | undefined,
  b: string | undefined,
): -1 | 0 | 1 | undefined {
  if (!isOrderedResourceVersion(a) || !isOrderedResourceVersion(b)) return undefined;
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
}

/** Is `a` known to be older than `b`? (false when they cannot be compared) */
export function olderThan(a: string | undefined, b: string | undefined): boolean {
  return compareResourceVersions(a, b) === -1;
}
