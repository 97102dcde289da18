import type { Plugin } from 'graphql-yoga';
import { createGraphQLError } from 'graphql-yoga';

/**
 * How deeply a document's brackets may nest (`{`, `[`, `(`), checked on the source text before it is parsed.
 * graphql's parser descends recursively, several stack frames per level: a document of a couple of thousand
 * nested list or object literals, within MAX_TOKENS, exhausted the stack ("Maximum call stack size exceeded",
 * an internal error) before the token limit stopped it. graphql-armor's maxDepth counts selections only, after
 * parsing. 100 levels is far beyond any real selection (MAX_DEPTH) or input value.
 */
export const MAX_NESTING = 100;

/** The deepest nesting of `{ [ (` in a GraphQL source, outside strings, block strings and comments. */
export function nestingDepth(source: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 0x7b || c === 0x5b || c === 0x28) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d || c === 0x29) {
      depth--;
    } else if (c === 0x23) {
      // A comment runs to the end of the line.
      while (i < source.length && source.charCodeAt(i) !== 0x0a && source.charCodeAt(i) !== 0x0d) i++;
    } else if (c === 0x22) {
      if (source.startsWith('"""', i)) {
        // A block string: up to the next unescaped """.
        i += 3;
        while (i < source.length && !(source.startsWith('"""', i) && !source.startsWith('\\"""', i - 1))) i++;
        i += 2;
      } else {
        i++;
        while (i < source.length && source.charCodeAt(i) !== 0x22 && source.charCodeAt(i) !== 0x0a) {
          if (source.charCodeAt(i) === 0x5c) i++; // an escape: skip the escaped character
          i++;
        }
      }
    }
  }
  return max;
}

/** Refuses documents nested deeper than MAX_NESTING before graphql parses them, as QUERY_LIMIT_EXCEEDED. */
export function useNestingLimit(): Plugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === 'string' ? params.source : params.source.body;
      const depth = nestingDepth(source);
      if (depth > MAX_NESTING) {
        throw createGraphQLError(`Nesting limit of ${MAX_NESTING} exceeded: brackets nested ${depth} deep`, {
          extensions: { code: 'QUERY_LIMIT_EXCEEDED', limit: 'maxNesting' },
        });
      }
    },
  };
}
