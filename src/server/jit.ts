import {
  BREAK,
  createSourceEventStream,
  getNullableType,
  isScalarType,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type ListValueNode,
  type ObjectValueNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLSchema,
  type Source,
  type SourceLocation,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.ts';

/**
 * GRAPHQL_JIT (default true; bench/results/graphql-jit.md): operations are executed by graphql-jit instead of Yoga's executor: each (document,
 * operation) is compiled once into a function that coerces the variables and runs the resolvers, and a
 * subscription's per-event execution (one per subscriber per event) runs that compiled function too.
 * Parsing, validation (query limits), the Pothos resolver wrappers (auth scopes, zod validation) and error
 * masking are unchanged. To behave exactly like the baseline:
 * - subscriptions get their event stream from graphql-js (`createSourceEventStream`): graphql-jit's own
 *   `subscribe` hands the subscription field the raw variables instead of its arguments (graphql-jit
 *   issue #183), so only the per-event execution is compiled;
 * - a request whose variables do not fit their types, or a document graphql-jit cannot compile, is run by
 *   Yoga's executor (whose error names the offending input path, e.g. `at "i.timestamp"`);
 * - graphql-jit's field errors (which carry `locations` but no source positions, so copies made later, e.g.
 *   with the request id, would lose them) are rebuilt as graphql-js errors with the same locations.
 * Compiled queries live as long as their parsed document (Yoga's parser cache keeps documents).
 */
export interface JitCompiler {
  /** The compiled (document, operation) of `args`, or null when graphql-jit cannot compile it. Cached per document. */
  compiled(args: Pick<ExecutionArgs, 'schema' | 'document' | 'operationName'>): CompiledQuery | null;
  /** One subscription event through the compiled operation (`payload` as root value). */
  runEvent(query: CompiledQuery, document: DocumentNode, payload: unknown, contextValue: unknown, variableValues: ExecutionArgs['variableValues']): ExecutionResult | Promise<ExecutionResult>;
}

export function createJitCompiler(logger: Logger): JitCompiler {
  const cache = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, Map<string, CompiledQuery | null>>>();
  return {
    compiled(args) {
      let bySchema = cache.get(args.schema);
      if (!bySchema) cache.set(args.schema, (bySchema = new WeakMap()));
      let byOperation = bySchema.get(args.document);
      if (!byOperation) bySchema.set(args.document, (byOperation = new Map()));
      const key = args.operationName ?? '';
      let entry = byOperation.get(key);
      if (entry === undefined) {
        try {
          const result = variableInScalarLiteral(args.schema, args.document)
            ? null
            : compileQuery(args.schema, args.document, args.operationName ?? undefined);
          if (result && isCompiledQuery(result)) entry = result;
          else {
            entry = null;
            logger.debug({ errors: result?.errors?.map((e) => e.message) }, 'graphql-jit: not compiled, executed by Yoga');
          }
        } catch (error) {
          entry = null;
          logger.warn({ err: error }, 'graphql-jit: compilation failed, executed by Yoga');
        }
        byOperation.set(key, entry);
      }
      return entry;
    },
    runEvent(query, document, payload, contextValue, variableValues) {
      const outcome = query.query(payload, contextValue, variableValues);
      return isPromise(outcome) ? outcome.then((result) => relocated(result, document)) : relocated(outcome, document);
    },
  };
}

/**
 * Whether a variable sits inside the literal of a scalar (`data: {k: $k}` for a JSON argument): graphql-jit
 * evaluates such a literal without the variables and silently drops the key (graphql-js passes the variables
 * to the scalar's parseLiteral), so the document is left to Yoga's executor. Input objects with variables in
 * their fields are not affected (their fields have types of their own).
 */
function variableInScalarLiteral(schema: GraphQLSchema, document: DocumentNode): boolean {
  const typeInfo = new TypeInfo(schema);
  let found = false;
  const atValue = (node: ObjectValueNode | ListValueNode) => {
    const type = typeInfo.getInputType();
    if (!type || !isScalarType(getNullableType(type))) return undefined;
    let nested = false;
    visit(node, {
      Variable: () => {
        nested = true;
        return BREAK;
      },
    });
    if (!nested) return false; // a literal of constants: nothing below needs a look
    found = true;
    return BREAK;
  };
  visit(document, visitWithTypeInfo(typeInfo, { ObjectValue: atValue, ListValue: atValue }));
  return found;
}

export function useJit(jit: JitCompiler): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const query = jit.compiled(args);
      if (!query) return;
      setExecuteFn(((executionArgs: ExecutionArgs) => {
        const outcome = query.query(executionArgs.rootValue, executionArgs.contextValue, executionArgs.variableValues);
        const settle = (result: ExecutionResult) =>
          isVariableFailure(result) ? executeFn(executionArgs as never) : relocated(result, executionArgs.document);
        return isPromise(outcome) ? outcome.then(settle) : settle(outcome);
      }) as typeof executeFn);
    },
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const query = jit.compiled(args);
      if (!query) return;
      setSubscribeFn((async (subscriptionArgs: ExecutionArgs) => {
        const source = await createSourceEventStream(subscriptionArgs);
        if (!isAsyncIterable(source)) return isVariableFailure(source) ? subscribeFn(subscriptionArgs as never) : source;
        const { contextValue, variableValues } = subscriptionArgs;
        const document = subscriptionArgs.document;
        return mapAsyncIterable(source, (payload) => jit.runEvent(query, document, payload, contextValue, variableValues));
      }) as typeof subscribeFn);
    },
  };
}

/** The variables did not coerce: nothing ran, there is no data and every error is about a variable. */
function isVariableFailure(result: ExecutionResult): boolean {
  return (
    result.data === undefined &&
    (result.errors?.length ?? 0) > 0 &&
    result.errors!.every((e) => !e.path && e.message.startsWith('Variable "$'))
  );
}

/** The result with graphql-jit's errors rebuilt as graphql-js errors (same message, locations, path, cause). */
function relocated(result: ExecutionResult, document: DocumentNode): ExecutionResult {
  if (!result.errors?.length) return result;
  const source = document.loc?.source;
  return { ...result, errors: result.errors.map((error) => rebuilt(error, source)) };
}

function rebuilt(error: GraphQLError, source: Source | undefined): GraphQLError {
  if (error.nodes) return error;
  const positions = source && error.locations?.length ? error.locations.map((l) => offsetOf(source.body, l)) : undefined;
  return createGraphQLError(error.message, {
    ...(positions ? { source, positions } : {}),
    path: error.path ?? null,
    originalError: error.originalError ?? null,
    extensions: error.extensions ?? null,
  });
}

/** The character offset of a 1-based line and column in `body` (the inverse of graphql-js getLocation). */
function offsetOf(body: string, location: SourceLocation): number {
  let offset = 0;
  for (let line = 1; line < location.line; line++) {
    const next = body.slice(offset).search(/\r\n|[\n\r]/);
    if (next < 0) break;
    offset += next + (body.startsWith('\r\n', offset + next) ? 2 : 1);
  }
  return offset + location.column - 1;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown })?.then === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/**
 * Maps each event through `map`. `return()` goes straight to the source (an async generator would wait
 * for the pending `next()`, i.e. the next event, before a completed subscription let go of its listener).
 */
function mapAsyncIterable<T, R>(
  source: AsyncIterable<T>,
  map: (value: T) => R | Promise<R>,
): AsyncIterableIterator<R> {
  const iterator = source[Symbol.asyncIterator]();
  const close = async () => {
    try {
      await iterator.return?.();
    } catch {
      // The stream is being abandoned anyway.
    }
  };
  const fail = async (error: unknown): Promise<never> => {
    await close();
    throw error;
  };
  // Synchronous when `map` is (the common case for a compiled subscription): one promise per event, not three.
  const step = (result: IteratorResult<T>): IteratorResult<R> | Promise<IteratorResult<R>> => {
    if (result.done) return { done: true, value: undefined };
    let mapped: R | Promise<R>;
    try {
      mapped = map(result.value);
    } catch (error) {
      return fail(error);
    }
    return isPromise(mapped) ? mapped.then((value) => ({ done: false, value }), fail) : { done: false, value: mapped };
  };
  return {
    next: () => iterator.next().then(step),
    return: async () => {
      await close();
      return { done: true, value: undefined };
    },
    throw: async (error?: unknown) => {
      if (iterator.throw) return step(await iterator.throw(error));
      await close();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
