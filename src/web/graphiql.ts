import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions } from 'graphql-yoga';
import type { Config } from '../config.ts';
import type { TokenService } from '../server/auth.ts';
import { DevTokens } from './dev-tokens.ts';

/**
 * GraphiQL on `GET /graphql` (browsers), rendered by `@graphql-yoga/render-graphiql`: the whole editor (its
 * script, styles and Monaco workers) is inlined in the page, so it works with no internet access. Yoga's
 * default page loads the same editor from a CDN and, offline, stays at "Loading…".
 *
 * Subscriptions go over SSE on the same URL (`subscriptionsProtocol: 'SSE'`: a POST answered with
 * `text/event-stream`), so that the Headers tab's token goes with them exactly as with queries and mutations.
 * Over graphql-ws GraphiQL sends the Headers tab only inside each operation (`extensions.headers`), which
 * trackql's websocket server does not read (it authenticates the socket once, at `connection_init`, from
 * connection parameters GraphiQL takes only from its options): a token pasted into the tab left subscriptions
 * anonymous. On a development start (generated secret), a local caller gets the service token pre-filled in
 * the Headers tab (the same rule as the demo page's tokens, see dev-tokens.ts).
 */
export interface GraphiQLSetup {
  /** Yoga's `graphiql` option: false when GRAPHIQL is off, else options per request. */
  graphiql: false | ((request: Request, serverContext?: Record<string, unknown>) => Promise<GraphiQLOptions>);
  /** Yoga's `renderGraphiQL` option. */
  renderGraphiQL: (options: GraphiQLOptions) => string;
}

const DEFAULT_QUERY = /* GraphQL */ `# trackql: who am I? Then try the examples of the README.
# Subscriptions run here too (over SSE, with the Headers tab's token), e.g. (as a service, name the user):
#   subscription Live { feed(user: "demo-user") { kind unreadCount action { verb text } } }
query Me {
  viewer { id role }
}
`;

/** Pages rendered for the last few option sets (the page is ~9 MB of inlined editor; tokens are reused for minutes). */
const CACHE_SIZE = 2;

export function graphiqlSetup(options: { config: Config; tokens: TokenService; generatedSecret: boolean }): GraphiQLSetup {
  const devTokens = new DevTokens(options);
  const cache = new Map<string, string>();
  const render = (graphiqlOptions: GraphiQLOptions): string => {
    const key = JSON.stringify(graphiqlOptions);
    let page = cache.get(key);
    if (page === undefined) {
      page = renderGraphiQL(graphiqlOptions);
      cache.set(key, page);
      if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    return page;
  };
  if (!options.config.graphiql) return { graphiql: false, renderGraphiQL: render };
  return {
    renderGraphiQL: render,
    graphiql: async (_request, serverContext) => {
      const base: GraphiQLOptions = {
        title: 'trackql',
        subscriptionsProtocol: 'SSE',
        defaultQuery: DEFAULT_QUERY,
        shouldPersistHeaders: false,
      };
      if (!devTokens.allowedFor(serverContext)) return base;
      const { service } = await devTokens.issue();
      // The Headers tab goes with every operation, subscriptions included (SSE).
      return { ...base, headers: JSON.stringify({ Authorization: `Bearer ${service}` }, null, 2) };
    },
  };
}
