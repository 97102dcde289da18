import type { Plugin } from 'graphql-yoga';
import { isTokenExpired, type TokenService } from './auth.ts';
import { isContractError } from './errors.ts';

/**
 * What graphql-sse 2 clients need from the SSE transport (Yoga serves GraphQL over SSE in graphql-sse's
 * "distinct connections" mode, one stream per operation):
 *
 * - Its "single connection" mode (a PUT reserving a stream, then requests carrying
 *   `X-GraphQL-Event-Stream-Token`) is not supported: refused with 405 and a status text that names what to use
 *   instead, since graphql-sse reports exactly "Server responded with <status>: <status text>".
 * - A bad token: graphql-sse retries every non-2xx response (its NetworkError) and reports only after its last
 *   attempt, so a 401 would look like an outage for half a minute. A stream request with a bad token is answered
 *   200 with one `next` event holding the UNAUTHENTICATED error, then `complete`: the client reports it at once.
 */

export const SSE_SINGLE_CONNECTION_REFUSAL =
  'graphql-sse single connection mode is not supported: use distinct connections mode (singleConnection: false) or graphql-ws on the same URL';

const STREAM_TOKEN_HEADER = 'x-graphql-event-stream-token';

/** What Yoga gives an `onRequest` hook. */
type RequestPayload = Parameters<NonNullable<Plugin['onRequest']>>[0];

export function useSseClientRefusals(tokens: TokenService, graphqlPath: string): Plugin {
  return {
    // Synchronous for every request that is not an SSE client's (an async hook makes each request a promise).
    onRequest({ request, url, fetchAPI, endResponse }) {
      if (url.pathname !== graphqlPath) return undefined;
      const wantsStream = (request.headers.get('accept') ?? '').includes('text/event-stream');
      if (request.method === 'PUT' || request.headers.has(STREAM_TOKEN_HEADER) || (wantsStream && url.searchParams.has('token'))) {
        endResponse(
          new fetchAPI.Response(JSON.stringify({ errors: [{ message: SSE_SINGLE_CONNECTION_REFUSAL, extensions: { code: 'BAD_REQUEST' } }] }), {
            status: 405,
            statusText: SSE_SINGLE_CONNECTION_REFUSAL,
            headers: { 'content-type': 'application/json; charset=utf-8', allow: 'GET, POST' },
          }),
        );
        return;
      }
      if (!wantsStream) return undefined;
      const authorization = request.headers.get('authorization');
      if (!authorization) return undefined;
      return refuseBadStreamToken(tokens, authorization, { endResponse, fetchAPI });
    },
  };
}

/** An SSE request whose token is refused gets the error as an event of a 200 stream, which graphql-sse reports at once. */
async function refuseBadStreamToken(
  tokens: TokenService,
  authorization: string,
  { endResponse, fetchAPI }: Pick<RequestPayload, 'endResponse' | 'fetchAPI'>,
): Promise<void> {
  try {
    await tokens.authenticate(authorization);
  } catch (error) {
    if (!isContractError(error)) return; // e.g. the key set unreachable: the ordinary path answers (503)
    const payload = {
      errors: [{ message: error.message, extensions: { code: 'UNAUTHENTICATED', ...(isTokenExpired(error) ? { tokenExpired: true } : {}) } }],
    };
    endResponse(
      new fetchAPI.Response(`event: next\ndata: ${JSON.stringify(payload)}\n\nevent: complete\ndata:\n\n`, {
        status: 200,
        headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
      }),
    );
  }
}
