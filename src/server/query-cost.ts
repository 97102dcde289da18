import {
  getNamedType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type GraphQLType,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { selectOperation, useOperationCheck } from './operation-check.ts';

/**
 * Query cost (MAX_COST), computed from what fields really cost:
 *
 * - every field costs 1 (its `complexity` option when a module declares one: Pothos stores it in the
 *   field's extensions);
 * - a list counts its fields once per item: as many items as its `first` / `limit` argument asks for
 *   (the argument's default, or 20, the connections' default page, when omitted), 10 for a root list of unknown length
 *   (`domains`, `trackers`…) or the `multiplier` a module declares for a list it loads (`Domain.metrics`);
 *   a list read from its parent row (an action's targets, a connection's edges) costs nothing extra;
 * - introspection (`__schema`, `__type`) is free (the depth limit bounds it).
 *
 * Why not graphql-armor's cost limit: it multiplies only by literal `first` values (a variable escapes it)
 * and knows no per-field weights. Why not Pothos's own calculation: it coerces and validates (zod) every
 * argument to compute the cost, ~3 ms for a 100-event increment, on every request. This walk reads only the
 * size arguments; its result is cached per document when those are literals.
 */

/** Items of a page whose `first` is omitted: the default page size of trackql's connections. */
export const UNSIZED_PAGE = 20;
export const ROOT_LIST_SIZE = 10;

interface Complexity {
  field?: number;
  multiplier?: number;
}

/** The cost of `operationName` in `document`, or null when there is no such operation (execution says so). */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): { cost: number; usesVariables: boolean } | null {
  const selected = selectOperation(document, operationName);
  const root = selected ? schema.getRootType(selected.operation.operation) : undefined;
  if (!selected || !root) return null;
  const { operation, fragments } = selected;

  let usesVariables = false;
  // Memoized per (selection set, type, size handed down): fragments spread many times are costed once
  // (linear, not exponential).
  const memo = new Map<SelectionSetNode, Map<string, number>>();

  const sizeOf = (value: ValueNode | undefined, fallback: number): number => {
    if (!value) return fallback;
    if (value.kind === Kind.INT) return Math.max(0, Number(value.value));
    if (value.kind === Kind.VARIABLE) {
      usesVariables = true;
      const given = variables?.[value.name.value];
      return typeof given === 'number' && Number.isInteger(given) ? Math.max(0, given) : fallback;
    }
    return fallback;
  };

  /** The page size a field asks for with `first` / `limit`, or undefined when it has no such argument. */
  const requestedSize = (field: GraphQLField<unknown, unknown>, node: FieldNode): number | undefined => {
    for (const name of ['first', 'limit']) {
      const definition = field.args.find((a) => a.name === name);
      if (!definition) continue;
      const argument = node.arguments?.find((a) => a.name.value === name);
      return sizeOf(argument?.value, typeof definition.defaultValue === 'number' ? definition.defaultValue : UNSIZED_PAGE);
    }
    return undefined;
  };

  /**
   * How many times a field's selection counts. A sized list: its size. A sized connection (not a list):
   * 1, its size is handed down to its list (`edges`). Other lists: the size handed down, the multiplier
   * the field declares, 10 at the root, else 1 (read from the parent row).
   */
  const countOf = (field: GraphQLField<unknown, unknown>, size: number | undefined, handedDown: number | undefined, isRoot: boolean): number => {
    if (!isList(field.type)) return 1;
    if (size !== undefined) return size;
    if (handedDown !== undefined) return handedDown;
    const declared = field.extensions?.['complexity'] as Complexity | number | undefined;
    if (typeof declared === 'object' && declared.multiplier !== undefined && declared.multiplier !== 1) return declared.multiplier;
    return isRoot ? ROOT_LIST_SIZE : 1;
  };

  const costOfSet = (selectionSet: SelectionSetNode, type: GraphQLNamedType, isRoot: boolean, handedDown: number | undefined): number => {
    const key = `${type.name}|${handedDown ?? ''}`;
    let byKey = memo.get(selectionSet);
    const known = byKey?.get(key);
    if (known !== undefined) return known;
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name === '__schema' || name === '__type') continue;
        const field = (isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined) as
          | GraphQLField<unknown, unknown>
          | undefined;
        if (!field) {
          total += 1; // __typename
          continue;
        }
        const declared = field.extensions?.['complexity'] as Complexity | number | undefined;
        const own = typeof declared === 'number' ? declared : (declared?.field ?? 1);
        const size = requestedSize(field, selection);
        const count = countOf(field, size, handedDown, isRoot);
        const inner = selection.selectionSet
          ? costOfSet(selection.selectionSet, getNamedType(field.type), false, size !== undefined && !isList(field.type) ? size : undefined)
          : 0;
        total += own + count * inner;
      } else {
        const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
        if (!fragment) continue;
        const condition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : type;
        total += costOfSet(fragment.selectionSet, condition ?? type, isRoot, handedDown);
      }
    }
    if (!byKey) memo.set(selectionSet, (byKey = new Map()));
    byKey.set(key, total);
    return total;
  };

  return { cost: costOfSet(operation.selectionSet, root, true, undefined), usesVariables };
}

function isList(type: GraphQLType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/** Refuses operations over `maxCost` before they run (HTTP, SSE and websockets), as QUERY_LIMIT_EXCEEDED. */
export function useQueryCost(maxCost: number): Plugin {
  /** Costs that do not depend on variables, per document and operation name. */
  const cache = new WeakMap<DocumentNode, Map<string, number | null>>();
  const check = (args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null | undefined;
    variableValues?: Record<string, unknown> | null | undefined;
  }) => {
    let byOperation = cache.get(args.document);
    const key = args.operationName ?? '';
    let cost = byOperation?.get(key);
    if (cost === undefined) {
      const computed = operationCost(args.schema, args.document, args.operationName, args.variableValues);
      cost = computed?.cost ?? null;
      if (!computed?.usesVariables) {
        if (!byOperation) cache.set(args.document, (byOperation = new Map()));
        byOperation.set(key, cost);
      }
    }
    if (cost === null || cost <= maxCost) return null;
    return createGraphQLError(
      `Query cost limit of ${maxCost} exceeded: this operation costs ${cost} (MAX_COST: each field costs 1, a list counts its fields once per item it asks for)`,
      { extensions: { code: 'QUERY_LIMIT_EXCEEDED', limit: 'costLimit', cost, maxCost } },
    );
  };
  return useOperationCheck(check);
}
