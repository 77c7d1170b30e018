// ResourceTypes of agent-machine's own kinds, derived from contracts/ so URLs, plurals and
// scopes cannot drift from the CRDs.
import { defineResource, type ResourceType } from '../operator/resource.ts';
import { loadKindContracts } from './contracts.ts';
import { GROUP, VERSION, type KindName } from './group.ts';

export const RESOURCES: Readonly<Record<KindName, ResourceType>> = Object.fromEntries(
  loadKindContracts().map(({ kind, crd }) => [
    kind,
    defineResource({ group: GROUP, version: VERSION, plural: crd.plural, kind, namespaced: crd.scope === 'Namespaced' }),
  ]),
) as Record<KindName, ResourceType>;

/** Finds a kind by any name kubectl accepts: Kind, kind, singular, plural, short name, or plural.group. */
export function resolveKind(name: string): KindName | undefined {
  const wanted = name.toLowerCase().replace(new RegExp(`\\.${GROUP.replace(/\./g, '\\.')}$`), '');
  for (const { kind, crd } of loadKindContracts()) {
    const names = [kind.toLowerCase(), crd.singular, crd.plural, ...crd.shortNames];
    if (names.includes(wanted)) return kind;
  }
  return undefined;
}
