import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { Context } from '../server/context.ts';
import { badInput, forbidden, unauthenticated } from '../server/errors.ts';

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
    authScopes: (ctx) => ({
      public: true,
      user: ctx.viewer.kind === 'user',
      service: ctx.viewer.kind === 'service',
      authenticated: ctx.viewer.kind !== 'anonymous',
    }),
    unauthorizedError: (_parent, ctx, info) =>
      ctx.viewer.kind === 'anonymous'
        ? unauthenticated(`Authentication required for ${info.parentType.name}.${info.fieldName}`)
        : forbidden(`Not allowed to access ${info.parentType.name}.${info.fieldName}`),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: { authScopes: { authenticated: true } },
    nodesQueryOptions: false,
  },
  validation: {
    validationError: (result) => {
      const issues = result.issues.map((issue) => ({
        path: (issue.path ?? [])
          .map((segment) => (typeof segment === 'object' && segment !== null && 'key' in segment ? segment.key : segment))
          .join('.'),
        message: issue.message,
      }));
      return badInput(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), { issues });
    },
  },
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
  },
});

builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('JSON', JSONResolver);

builder.queryType({});
builder.mutationType({});
