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
  /** Counts so far, updated as answers arrive (the promise resolves with the same object). */
  progress?: IncrementLoadResult;
}

const INCREMENT = `mutation($events: [IncrementInput!]!) { increment(events: $events) { accepted rejected { index reason } } }`;

export async function runIncrementLoad(options: IncrementLoadOptions): Promise<IncrementLoadResult> {
  const result: IncrementLoadResult = options.progress ?? { acked: 0, unacked: 0, requests: 0 };
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

export interface RetryingLoadResult {
  /** Distinct event ids whose call was answered with every event accepted (each once, however many tries). */
  acceptedIds: Set<string>;
  /** Calls answered. */
  calls: number;
  /** Tries that got no answer (killed server, broken connection, UNAVAILABLE) and were retried. */
  retries: number;
  /** Events answered as duplicates: a try whose answer was lost had stored them. */
  duplicates: number;
}

export interface RetryingLoadOptions {
  /** The instance to send to now (it changes when the test restarts the server). */
  url: () => string;
  token: string;
  domain: string;
  metric: string;
  concurrency: number;
  eventsPerRequest: number;
  /** Stops starting new calls; the calls under way are retried until answered. */
  signal: AbortSignal;
  timeoutMs?: number;
}

/**
 * Increment load from clients that give every event an id and retry each call, unchanged, until it gets an
 * answer: what issue 17 promises such a client is that every id it got accepted counts exactly once.
 */
export async function runRetryingIncrementLoad(options: RetryingLoadOptions): Promise<RetryingLoadResult> {
  const result: RetryingLoadResult = { acceptedIds: new Set(), calls: 0, retries: 0, duplicates: 0 };
  let next = 0;
  const worker = async (w: number) => {
    while (!options.signal.aborted) {
      const ids = Array.from({ length: options.eventsPerRequest }, () => `w${w}-${next++}-${Math.random().toString(36).slice(2)}`);
      const events = ids.map((id) => ({ domain: options.domain, metric: options.metric, by: 1, id }));
      const body = JSON.stringify({ query: RETRYING_INCREMENT, variables: { events } });
      for (;;) {
        try {
          const response = await fetch(options.url(), {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
            body,
            signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
          });
          const json = (await response.json()) as { data?: { increment?: { accepted: number; duplicates: number[] } } };
          const answer = json.data?.increment;
          if (answer) {
            if (answer.accepted !== ids.length) throw new Error(`events rejected: ${JSON.stringify(json)}`);
            for (const id of ids) result.acceptedIds.add(id);
            result.duplicates += answer.duplicates.length;
            result.calls++;
            break;
          }
        } catch (error) {
          if (error instanceof Error && error.message.startsWith('events rejected')) throw error;
        }
        result.retries++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => worker(i)));
  return result;
}

const RETRYING_INCREMENT = `mutation RetriedIncrement($events: [IncrementInput!]!) {
  increment(events: $events) { accepted duplicates }
}`;
