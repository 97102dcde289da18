/**
 * Increment load generators against real instances: they count what the server acknowledged and what
 * was sent without an acknowledgement, so a test can check that nothing acknowledged was lost.
 */
export interface IncrementLoadResult {
  /** Increments the server acknowledged (`accepted`). */
  acked: number;
  /** Increments sent whose request failed or got no answer: each may or may not have been stored. */
  unacked: number;
  requests: number;
}

export interface IncrementLoadOptions {
  urls: string[];
  token: string;
  domain: string;
  metric: string;
  object?: { type: string; id: string };
  concurrency: number;
  eventsPerRequest: number;
  /** Stops the generators. */
  signal: AbortSignal;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
}

const INCREMENT = `mutation($events: [IncrementInput!]!) { increment(events: $events) { accepted rejected { index reason } } }`;

export async function runIncrementLoad(options: IncrementLoadOptions): Promise<IncrementLoadResult> {
  const result: IncrementLoadResult = { acked: 0, unacked: 0, requests: 0 };
  const events = Array.from({ length: options.eventsPerRequest }, () => ({
    domain: options.domain,
    metric: options.metric,
    ...(options.object ? { object: options.object } : {}),
    by: 1,
  }));
  const body = JSON.stringify({ query: INCREMENT, variables: { events } });
  const worker = async (index: number) => {
    const url = options.urls[index % options.urls.length]!;
    while (!options.signal.aborted) {
      result.requests++;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
          body,
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
        const json = (await response.json()) as { data?: { increment?: { accepted: number } } };
        const accepted = json.data?.increment?.accepted;
        if (typeof accepted === 'number') {
          result.acked += accepted;
          result.unacked += options.eventsPerRequest - accepted;
        } else {
          result.unacked += options.eventsPerRequest;
          await new Promise((r) => setTimeout(r, 20));
        }
      } catch {
        result.unacked += options.eventsPerRequest;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => worker(i)));
  return result;
}
