/**
 * The reference for the websocket delivery benchmark: bare graphql-yoga + graphql-ws (the setup of Yoga's
 * documentation, no trackql plugin, no database, no authentication) publishing one event to every subscriber.
 * The event has the shape of trackql's `FeedEvent` as the benchmark selects it. Run as a child process: prints
 * `listening <url>` on stdout; `mutation { publish(id) }` publishes one event with that action id.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useServer } from 'graphql-ws/use/ws';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { WebSocketServer } from 'ws';

interface Event {
  kind: string;
  unreadCount: number;
  cursor: string;
  action: { id: string; verb: string; timestamp: string; actor: Obj; targets: Obj[] };
}
interface Obj {
  type: string;
  id: string;
  label: string | null;
}

const pubsub = createPubSub<{ feed: [Event] }>();

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    type Obj { type: String! id: String! label: String }
    type Action { id: ID! verb: String! timestamp: String! actor: Obj! targets: [Obj!]! }
    type FeedEvent { kind: String! unreadCount: Int! cursor: String! action: Action }
    type Query { ok: Boolean }
    type Mutation { publish(id: ID!): Boolean }
    type Subscription { feed: FeedEvent! }
  `,
  resolvers: {
    Mutation: {
      publish: (_: unknown, { id }: { id: string }) => {
        pubsub.publish('feed', {
          kind: 'ADDED',
          unreadCount: 1,
          cursor: 'ZmVlZHBvczox',
          action: {
            id,
            verb: 'announced',
            timestamp: new Date().toISOString(),
            actor: { type: 'User', id: 'u1', label: 'Broadcaster' },
            targets: [{ type: 'Item', id: 'ws-hot', label: 'Everyone' }],
          },
        });
        return true;
      },
    },
    Subscription: {
      feed: { subscribe: () => pubsub.subscribe('feed'), resolve: (event: Event) => event },
    },
  },
});

const yoga = createYoga({ schema, graphqlEndpoint: '/graphql', logging: false, landingPage: false });
const server = createServer(yoga);
const wsServer = new WebSocketServer({ server, path: '/graphql' });

// Yoga's documented graphql-ws integration.
useServer(
  {
    execute: (args: any) => args.rootValue.execute(args),
    subscribe: (args: any) => args.rootValue.subscribe(args),
    onSubscribe: async (ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params });
      const args = {
        schema,
        operationName: params.operationName,
        document: parse(params.query),
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe },
      };
      const errors = validate(args.schema, args.document);
      if (errors.length) return errors;
      return args;
    },
  },
  wsServer,
);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening http://127.0.0.1:${port}/graphql`);
});
process.on('SIGTERM', () => process.exit(0));
