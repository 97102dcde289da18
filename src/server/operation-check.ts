import { Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLError, type OperationDefinitionNode } from 'graphql';
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

/**
 * The operation of `document` that a request runs (the one named `operationName`, else the first) and the
 * document's fragments by name, for checks that walk it; null when there is no such operation (execution reports
 * that, as it reports a document of several operations without a name).
 */
export function selectOperation(
  document: DocumentNode,
  operationName: string | null | undefined,
): { operation: OperationDefinitionNode; fragments: Map<string, FragmentDefinitionNode> } | null {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let operation: OperationDefinitionNode | undefined;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    else if (definition.kind === Kind.OPERATION_DEFINITION) {
      if (operationName ? definition.name?.value === operationName : operation === undefined) operation = definition;
    }
  }
  return operation ? { operation, fragments } : null;
}
