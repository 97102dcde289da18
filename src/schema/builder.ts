import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin, { type AuthFailure } from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { JSONResolver } from 'graphql-scalars';
import { readGlobalId } from './node-id.ts';
import type { Context } from '../server/context.ts';
import { badInput, forbidden, unauthenticated } from '../server/errors.ts';
import { DateTime } from './date-time.ts';

/**
 * The one Pothos builder. Plugins: scope-auth (role rules, declared on fields), relay (Node, connections),
 * validation (zod schemas on arguments and inputs), dataloader (batched lookups), complexity (query cost).
 *
 * Failures that are part of the contract are GraphQL errors with a stable `extensions.code`
 * (see server/errors.ts) rather than result unions: the contract's mutations return their types
 * directly (`registerDomain: Domain!`), and frontends select fields on them without fragments.
 */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: {
    /** Anyone, including anonymous callers. */
    public: boolean;
    /** A signed-in end user (not a service). */
    user: boolean;
    /** The client application's backend. */
    service: boolean;
    /** A user or a service. */
    authenticated: boolean;
    /** The caller is this user (a user token whose `sub` is the id): `{ service: true, self: args.user }`. */
    self: string;
    /** The caller is this object: a user naming itself as `{type: USER_TYPE, id: sub}` (logAction's actor). */
    actor: { type: string; id: string | number };
  };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string | number };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin, ValidationPlugin, DataloaderPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Subscriptions are authorized once, when they are created (not on every event).
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      public: true,
      user: ctx.viewer.kind === 'user',
      service: ctx.viewer.kind === 'service',
      authenticated: ctx.viewer.kind !== 'anonymous',
      self: (id) => ctx.viewer.kind === 'user' && ctx.viewer.id === id,
      actor: (ref) => ctx.viewer.kind === 'user' && ref.type === ctx.config.userType && String(ref.id) === ctx.viewer.id,
    }),
    unauthorizedError: (_parent, ctx, info, result) => {
      const field = `${info.parentType.name}.${info.fieldName}`;
      if (ctx.viewer.kind === 'anonymous') return unauthenticated(`Authentication required for ${field}`);
      const scopes = failedScopes(result.failure);
      if (scopes.has('actor')) {
        return forbidden(`${field}: users can only log actions whose actor is themselves ({type: "${ctx.config.userType}", id: your id})`);
      }
      if (scopes.has('self')) {
        return forbidden(`${field}: users can only access their own feed and trackers (omit user/owner, or name yourself)`);
      }
      return forbidden(`Not allowed to access ${field}`);
    },
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: { authScopes: { authenticated: true } },
    // A malformed id, one of a type that has no objects to load, or a number past any stored id is the
    // caller's bad input (the default decoder and node loading would throw plain, masked errors).
    decodeGlobalID: (globalID) => {
      const shown = globalID.slice(0, 100);
      const decoded = readGlobalId(globalID);
      if (decoded === null) throw badInput(`id: "${shown}" is not a valid node id`);
      if (!isNodeType(decoded.typename)) throw badInput(`id: "${shown}" is not the id of an object (no type "${decoded.typename.slice(0, 64)}" has ids)`);
      return decoded;
    },
    nodesQueryOptions: false,
  },
  validation: {
    validationError: (result) => validationFailure(result.issues),
  },
  // Field costs for the query cost limit (server/query-cost.ts computes it before execution): a field costs
  // 1 unless its `complexity` option says otherwise; a list costs its items (first/limit, see there) or the
  // `multiplier` a field declares. The plugin only records these (disabled: no check inside resolvers).
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 1,
    disabled: true,
  },
});

/** Whether objects of `typename` can be loaded by global id (`builder.node` types). */
function isNodeType(typename: string): boolean {
  if (!builder.configStore.hasConfig(typename)) return false;
  const config = builder.configStore.getTypeConfig(typename);
  if (config.graphqlKind !== 'Object') return false;
  const options = config.pothosOptions as Record<string, unknown>;
  return Boolean(options['loadMany'] ?? options['loadOne'] ?? options['loadManyWithoutCache'] ?? options['loadWithoutCache']);
}

/** The scopes that failed in an authorization result (for error messages). */
function failedScopes(failure: AuthFailure): Set<string> {
  const out = new Set<string>();
  const visit = (f: AuthFailure) => {
    if ('scope' in f) out.add(f.scope);
    if ('failures' in f) f.failures.forEach(visit);
  };
  visit(failure);
  return out;
}

builder.addScalarType('DateTime', DateTime);
builder.addScalarType('JSON', JSONResolver);

builder.queryType({});
builder.mutationType({});

/** A validation issue as schemas report it (Standard Schema): a message and where, within the arguments. */
export interface ValidationIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/**
 * The one form of a validation failure (the validation plugin's, and resolvers that validate a whole list
 * themselves): BAD_USER_INPUT whose message lists each issue as `path: message`, with the issues in extensions.
 */
export function validationFailure(issues: readonly ValidationIssue[]) {
  const listed = issues.map((issue) => ({
    path: (issue.path ?? [])
      .map((segment) => (typeof segment === 'object' && segment !== null && 'key' in segment ? segment.key : segment))
      .join('.'),
    message: issue.message,
  }));
  return badInput(listed.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), { issues: listed });
}
