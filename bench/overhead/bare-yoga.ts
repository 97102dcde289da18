/**
 * The reference of bench/overhead/overhead.ts: bare graphql-yoga (the version trackql uses, no plugins) with a
 * one-field schema, in its own process like trackql. Prints "listening <port>" once it listens.
 *
 * BARE_YOGA_BODY_STREAM=off starts it with `maxRequestBodySize: false`: without the TransformStream Yoga pipes
 * every request body through to count its bytes (its default 25 MB limit). trackql bounds bodies without that
 * stream (src/server/limits.ts useBodyLimit), so this is the stricter reference: Yoga doing only what trackql's
 * requests also need.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';

const yoga = createYoga({
  schema: createSchema({
    typeDefs: 'type Query { ok: Boolean! } type Mutation { ok: Boolean! }',
    resolvers: { Query: { ok: () => true }, Mutation: { ok: () => true } },
  }),
  logging: false,
  landingPage: false,
  graphiql: false,
  ...(process.env['BARE_YOGA_BODY_STREAM'] === 'off' ? { maxRequestBodySize: false } : {}),
});
const server = createServer(yoga);
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
