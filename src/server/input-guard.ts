import {
  Kind,
  type DocumentNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { badInput } from './errors.ts';
import { selectOperation, useOperationCheck } from './operation-check.ts';

/**
 * The one check of every string and number a caller sends, at the schema edge: before an operation runs
 * (HTTP, SSE and websockets all go through Yoga's envelop), every string among its arguments (literals of the
 * document, variable default values and the variables' values, JSON scalars included, keys and values at
 * any depth) must be text PostgreSQL can store: no NUL character (U+0000, which `text` and `jsonb` refuse)
 * and no lone UTF-16 surrogate (which would be stored as U+FFFD, silently not what was sent); and every
 * number must be finite. A number past the largest double (`1e400`) parses to Infinity, both as a document
 * literal (graphql-js's Float accepts it there, unlike in variables) and in a JSON body (`JSON.parse`): stored,
 * it became an unreadable Infinity or a JSON `null`. A refusal is one BAD_USER_INPUT naming the argument path
 * (`logAction.input.actor.id`) before anything runs, so nothing of the operation is stored. Field validators
 * (zod) then only deal with well-formed text and finite numbers.
 */

/** What is wrong with a string, or null when it is fine. */
export function textProblem(value: string): string | null {
  if (value.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (!value.isWellFormed()) return 'must be well-formed Unicode (it contains a lone UTF-16 surrogate)';
  return null;
}

/** What is wrong with a number, or null when it is fine. */
export function numberProblem(value: number): string | null {
  return Number.isFinite(value) ? null : 'must be a finite number (it is past the largest number a Float can hold, about 1.8e308)';
}

interface Issue {
  path: string;
  message: string;
}

/** Per operation of a document: the first problem among its literals, and where each variable is used. */
interface OperationInputs {
  literalIssue: Issue | null;
  /** Variable name → the argument path of its first use (for messages). */
  variablePaths: Map<string, string>;
}

export function useInputGuard(): Plugin {
  const cache = new WeakMap<DocumentNode, Map<string, OperationInputs | null>>();
  const inputsOf = (document: DocumentNode, operationName: string | null | undefined): OperationInputs | null => {
    let byOperation = cache.get(document);
    if (!byOperation) cache.set(document, (byOperation = new Map()));
    const key = operationName ?? '';
    let inputs = byOperation.get(key);
    if (inputs === undefined) {
      inputs = analyse(document, operationName);
      byOperation.set(key, inputs);
    }
    return inputs;
  };
  const check = (args: { document: DocumentNode; operationName?: string | null | undefined; variableValues?: unknown }) => {
    const inputs = inputsOf(args.document, args.operationName);
    if (!inputs) return null; // no such operation: execution reports it
    const issue = inputs.literalIssue ?? variablesIssue(inputs.variablePaths, args.variableValues);
    return issue ? badInput(`${issue.path}: ${issue.message}`, { issues: [issue] }) : null;
  };
  return useOperationCheck(check);
}

function analyse(document: DocumentNode, operationName: string | null | undefined): OperationInputs | null {
  const selected = selectOperation(document, operationName);
  if (!selected) return null;
  const { operation, fragments } = selected;
  const inputs: OperationInputs = { literalIssue: null, variablePaths: new Map() };
  const onLiteral = (path: string, value: ValueNode) => {
    inputs.literalIssue ??= literalIssue(path, value, inputs.variablePaths);
  };
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) onLiteral(`$${definition.variable.name.value}`, definition.defaultValue);
  }
  const visited = new Set<string>();
  const walk = (selectionSet: SelectionSetNode, prefix: string) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const path = prefix ? `${prefix}.${selection.name.value}` : selection.name.value;
        for (const argument of selection.arguments ?? []) onLiteral(`${path}.${argument.name.value}`, argument.value);
        if (selection.selectionSet) walk(selection.selectionSet, path);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, prefix);
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet, prefix);
      }
    }
  };
  walk(operation.selectionSet, '');
  // Declared variables that no argument uses (validation refuses those) are still checked, under their name.
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (!inputs.variablePaths.has(name)) inputs.variablePaths.set(name, `$${name}`);
  }
  return inputs;
}

/** The first bad string or number of a literal value; records the variables it uses on the way. */
function literalIssue(path: string, value: ValueNode, variablePaths: Map<string, string>): Issue | null {
  switch (value.kind) {
    case Kind.STRING: {
      const message = textProblem(value.value);
      return message ? { path, message } : null;
    }
    case Kind.INT:
    case Kind.FLOAT: {
      const message = numberProblem(Number(value.value));
      return message ? { path, message } : null;
    }
    case Kind.VARIABLE:
      if (!variablePaths.has(value.name.value)) variablePaths.set(value.name.value, path);
      return null;
    case Kind.LIST:
      for (let i = 0; i < value.values.length; i++) {
        const issue = literalIssue(`${path}.${i}`, value.values[i]!, variablePaths);
        if (issue) return issue;
      }
      return null;
    case Kind.OBJECT:
      for (const field of value.fields) {
        const issue = literalIssue(`${path}.${field.name.value}`, field.value, variablePaths);
        if (issue) return issue;
      }
      return null;
    default:
      return null;
  }
}

/** How deep `isClean` recurses; deeper values are left to the walk of `variablesIssue` (no stack). */
const CLEAN_DEPTH = 64;

/**
 * Whether every string, number and key in `value` is fine: the common answer, found by a plain recursive pass that
 * records no path and allocates nothing. False also for values nested deeper than `depth`, or whose
 * inherited enumerable keys (for-in sees them) are bad: then the walk below decides, and names the problem.
 */
function isClean(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return textProblem(value) === null;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || value === null) return true;
  if (depth === 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isClean(value[i], depth - 1)) return false;
    return true;
  }
  const object = value as Record<string, unknown>;
  for (const name in object) {
    if (textProblem(name) !== null || !isClean(object[name], depth - 1)) return false;
  }
  return true;
}

/**
 * The first bad string, number (or object key) among the variables' values, at any depth, in the same order as a
 * depth-first walk. Iterative: a hostile 100,000-level JSON value costs no stack. The values still to see are
 * three parallel stacks (value, key, containing array or object) and the containers walked into two more
 * (how each was reached), so a batch of 1,000 events with ~10,000 values allocates no object per value; the
 * path is only spelled out for a refusal.
 */
function variablesIssue(variablePaths: Map<string, string>, variableValues: unknown): Issue | null {
  if (variablePaths.size === 0 || typeof variableValues !== 'object' || variableValues === null) return null;
  const values = variableValues as Record<string, unknown>;
  let clean = true;
  for (const name of variablePaths.keys()) {
    if (Object.hasOwn(values, name) && !isClean(values[name], CLEAN_DEPTH)) clean = false;
  }
  if (clean) return null;
  const pending: unknown[] = [];
  const pendingKeys: Array<string | number> = [];
  const pendingIn: number[] = [];
  const containerKeys: Array<string | number> = [];
  const containerIn: number[] = [];
  /** Object keys found fine so far: the events of a batch repeat the same few keys. */
  const fineKeys = new Set<string>();
  const pathOf = (container: number, key: string | number): string => {
    const keys: Array<string | number> = [key];
    for (let c = container; c >= 0; c = containerIn[c]!) keys.push(containerKeys[c]!);
    const path = keys.reverse().join('.');
    return path.length > 200 ? `${path.slice(0, 200)}…` : path;
  };
  /** Only strings, containers and numbers that are not finite need a visit (booleans and null are always fine). */
  const push = (value: unknown, key: string | number, container: number) => {
    if (typeof value === 'string' || (typeof value === 'object' && value !== null) || (typeof value === 'number' && !Number.isFinite(value))) {
      pending.push(value);
      pendingKeys.push(key);
      pendingIn.push(container);
    }
  };
  for (const [name, path] of variablePaths) {
    if (Object.hasOwn(values, name)) push(values[name], path, -1);
  }
  while (pending.length > 0) {
    const value = pending.pop();
    const key = pendingKeys.pop()!;
    const container = pendingIn.pop()!;
    if (typeof value === 'string') {
      const message = textProblem(value);
      if (message) return { path: pathOf(container, key), message };
      continue;
    }
    if (typeof value === 'number') return { path: pathOf(container, key), message: numberProblem(value)! };
    const self = containerKeys.push(key) - 1;
    containerIn.push(container);
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) push(value[i], i, self);
    } else {
      const object = value as Record<string, unknown>;
      for (const name of Object.keys(object)) {
        const message = fineKeys.has(name) ? null : textProblem(name);
        if (message === null) fineKeys.add(name);
        else return { path: `${pathOf(container, key)}.${name.replace(/[\u0000\uD800-\uDFFF]/g, '\uFFFD')}`, message: `keys ${message}` };
        push(object[name], name, self);
      }
    }
  }
  return null;
}
