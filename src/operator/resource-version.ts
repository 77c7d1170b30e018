// Ordering resourceVersions. The API conventions call them opaque, and nothing here relies on
// an order for correctness: this is only used to keep the informer cache from going back in
// time (see Informer.observe). kube-apiserver over etcd hands out etcd revisions, decimal
// integers that grow with every write in the cluster; anything else is "not known to be newer".

const DECIMAL = /^[0-9]{1,30}$/;

/** True only when both are decimal resourceVersions and `a` is the later one. */
export function isNewerResourceVersion(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !DECIMAL.test(a) || !DECIMAL.test(b)) return false;
  return BigInt(a) > BigInt(b);
}
