// Which tenant an object may claim: the one an administrator wrote on its namespace, as the
// label agentmachine.sourceos.dev/tenant, never the object's own spec.tenant (free text anyone
// who may create the object writes). The admission policy rejects a mismatch
// (manifests/admission/delegator-policy.yaml); the controller checks the same rule itself
// (tenantDecision, with the namespace read by reconcilers/namespace-tenants.ts) because it
// does not trust that the policy ran.
//   namespace labelled T     the object must say spec.tenant: T
//   namespace not labelled   the object may name no tenant
import { GROUP } from '../api/group.ts';
import { allow, deny, type Decision } from './decision.ts';

export const TENANT_LABEL = `${GROUP}/tenant`;
export const TENANCY_GATE = 'tenancy';

/** What the namespace says: its tenant label (undefined: not labelled), or why it is not known. */
export type NamespaceTenant = { found: true; tenant: string | undefined } | { found: false; unavailable: boolean; message: string };

/** The tenant label of a namespace's labels; an empty value is no label. */
export function tenantOfLabels(labels: Record<string, string> | undefined): string | undefined {
  const t = labels?.[TENANT_LABEL];
  return t === undefined || t === '' ? undefined : t;
}

/** Does the tenant an object claims agree with its namespace? */
export function tenantDecision(namespace: string, claimed: string | undefined, ns: NamespaceTenant): Decision {
  const rule = 'tenancy.namespace-label';
  if (!ns.found) return deny(TENANCY_GATE, rule, `the tenant of namespace ${namespace} cannot be read: ${ns.message}`);
  if (ns.tenant === claimed) {
    return allow(TENANCY_GATE, rule, claimed === undefined ? `namespace ${namespace} has no tenant and the object claims none` : `tenant ${claimed} is the tenant of namespace ${namespace}`);
  }
  if (ns.tenant === undefined) return deny(TENANCY_GATE, rule, `spec.tenant ${claimed} is not the tenant of namespace ${namespace}: the namespace has no ${TENANT_LABEL} label, so its objects may claim no tenant`);
  if (claimed === undefined) return deny(TENANCY_GATE, rule, `namespace ${namespace} belongs to tenant ${ns.tenant} (label ${TENANT_LABEL}): its objects must say spec.tenant: ${ns.tenant}`);
  return deny(TENANCY_GATE, rule, `spec.tenant ${claimed} is not the tenant of namespace ${namespace}, which belongs to tenant ${ns.tenant} (label ${TENANT_LABEL})`);
}
