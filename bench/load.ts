import autocannon from 'autocannon';

/** Settings for benchmark servers: no rate limits or websocket caps getting in the way of the load. */
export const UNLIMITED_SERVER_ENV: Record<string, string> = {
  RATE_LIMIT_REQUESTS: '0',
  RATE_LIMIT_ACTIONS: '0',
  WS_MAX_CONNECTIONS_PER_CLIENT: '100000',
};

/** POSTs `body` to `url` with a bearer token on `connections` connections for `seconds` (autocannon). */
export function postLoad(
  url: string,
  token: string,
  body: string,
  seconds: number,
  connections: number,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        connections,
        duration: seconds,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

/** Successful (2xx) requests per second of an autocannon run. */
export const perSecond = (r: autocannon.Result): number => r['2xx'] / r.duration;
