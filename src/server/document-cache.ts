import type { DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * Yoga's parser caches (documents, and parse errors, by the text of the document), bounded by the text they hold
 * as well as by count. Yoga's own keep 1,024 entries of any size: 1,024 documents of a few hundred kilobytes each
 * (a long comment or string is one token, within every query limit) held hundreds of megabytes of text, since each
 * entry keeps its text as its key and in its document's locations. Everything trackql caches per document
 * (validation, compiled queries, query cost, input checks) lives in WeakMaps keyed by the document, and goes with it.
 */

/** Entries per cache: Yoga's default. */
const DOCUMENT_CACHE_ENTRIES = 1024;
/** Characters of document text per cache: typical documents (a few kilobytes) fill the 1,024 entries first. */
const DOCUMENT_CACHE_CHARS = 16 * 1024 * 1024;
/** Yoga's default: an entry unused for an hour goes. */
const DOCUMENT_CACHE_TTL_MS = 3_600_000;

function textBoundedCache<V extends object>(): LRUCache<string, V> {
  return new LRUCache<string, V>({
    max: DOCUMENT_CACHE_ENTRIES,
    maxSize: DOCUMENT_CACHE_CHARS,
    sizeCalculation: (_value, text) => Math.max(1, text.length),
    ttl: DOCUMENT_CACHE_TTL_MS,
  });
}

/** Yoga's `parserAndValidationCache` option: its validation cache, with these document and error caches. */
export function parserCaches(): { documentCache: LRUCache<string, DocumentNode>; errorCache: LRUCache<string, Error>; validationCache: true } {
  return { documentCache: textBoundedCache<DocumentNode>(), errorCache: textBoundedCache<Error>(), validationCache: true };
}
