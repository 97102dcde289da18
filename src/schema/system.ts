import { builder } from './builder.ts';

const Role = builder.enumType('Role', {
  description: 'How the server sees the caller.',
  values: {
    ANONYMOUS: { value: 'anonymous' },
    USER: { value: 'user' },
    SERVICE: { value: 'service' },
  } as const,
});

interface ViewerShape {
  role: 'anonymous' | 'user' | 'service';
  id: string | null;
}

export const Viewer = builder.objectRef<ViewerShape>('Viewer').implement({
  description: 'The caller, as identified by its bearer token.',
  fields: (t) => ({
    role: t.field({ type: Role, resolve: (v) => v.role }),
    id: t.exposeID('id', { nullable: true, description: 'The token subject; null for anonymous callers.' }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: Viewer,
    description: 'Who the server thinks you are.',
    authScopes: { public: true },
    resolve: (_root, _args, ctx) => ({
      role: ctx.viewer.kind,
      id: ctx.viewer.kind === 'anonymous' ? null : ctx.viewer.id,
    }),
  }),
);
