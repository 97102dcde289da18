import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Standard Webhooks signing (the `standardwebhooks` package): secrets and the three headers of a request. */

/** A new signing secret, `whsec_` + base64 of 32 random bytes (shown once, at registration). */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** `webhook-id` (stable across retries), `webhook-timestamp` (seconds) and `webhook-signature` (v1, HMAC-SHA256). */
export function signedHeaders(secret: string, messageId: string, at: Date, body: string): SignedHeaders {
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(messageId, at, body),
  };
}
