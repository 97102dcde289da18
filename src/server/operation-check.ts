import type { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** What a check sees of an operation about to run: Yoga's execution and subscription arguments. */
type OperationArgs = Parameters<NonNullable<Plugin['onExecute']>>[0]['args'];

/**
 * A plugin that runs `check` before every operation (HTTP, SSE and websockets; queries, mutations and
 * subscriptions) and answers its error instead of running the operation.
 */
export function useOperationCheck(check: (args: OperationArgs) => GraphQLError | null): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}
