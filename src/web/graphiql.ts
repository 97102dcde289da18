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
 * Subscriptions go over graphql-ws on the same URL. On a development start (generated secret), a local
 * caller gets the service token pre-filled in the Headers tab and in the websocket's connection parameters
 * (the same rule as the demo page's tokens, see dev-tokens.ts). A token typed into the Headers tab reaches
 * queries and mutations; GraphiQL sends it to graphql-ws only inside each operation (`extensions.headers`),
 * which trackql's websocket server does not read: it authenticates the socket once, at `connection_init`.
 */
export interface GraphiQLSetup {
  /** Yoga's `graphiql` option: false when GRAPHIQL is off, else options per request. */
  graphiql: false | ((request: Request, serverContext?: Record<string, unknown>) => Promise<GraphiQLOptions>);
  /** Yoga's `renderGraphiQL` option. */
  renderGraphiQL: (options: GraphiQLOptions) => string;
}

const DEFAULT_QUERY = /* GraphQL */ `# trackql: who am I? Then try the examples of the README.
# Subscriptions run over graphql-ws on this URL, e.g. (as a service, name the user):
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
        subscriptionsProtocol: 'WS',
        defaultQuery: DEFAULT_QUERY,
        shouldPersistHeaders: false,
      };
      if (!devTokens.allowedFor(serverContext)) return base;
      const { service } = await devTokens.issue();
      const authorization = `Bearer ${service}`;
      // The Headers tab goes with every HTTP operation; graphql-ws authenticates once, when the socket opens,
      // from its connection parameters (Yoga's GraphiQL passes `connectionParams` to its graphql-ws client).
      const withSocketAuth: GraphiQLOptions & { connectionParams: { authorization: string } } = {
        ...base,
        headers: JSON.stringify({ Authorization: authorization }, null, 2),
        connectionParams: { authorization },
      };
      return withSocketAuth;
    },
  };
}
