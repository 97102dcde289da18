import { GraphQLScalarType, type ValueNode } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { createGraphQLError } from 'graphql-yoga';

/**
 * graphql-scalars' DateTime (RFC 3339), limited to the instants trackql can store and compute periods around:
 * 0002-01-01T00:00:00Z to 9998-12-31T23:59:59.999Z. RFC 3339 allows years 0000 to 9999, but PostgreSQL reads no year
 * 0000, and a period containing an instant of year 9999 (the day, week or year after it, in any time zone) would end
 * in year 10000, which neither ISO 8601's four-digit years nor PostgreSQL's input read: such values were internal
 * errors at the database instead of the caller's BAD_USER_INPUT.
 */
export const DATE_TIME_MIN = new Date('0002-01-01T00:00:00.000Z');
export const DATE_TIME_MAX = new Date('9998-12-31T23:59:59.999Z');

function bounded(value: Date): Date {
  if (value.getTime() < DATE_TIME_MIN.getTime() || value.getTime() > DATE_TIME_MAX.getTime()) {
    throw createGraphQLError(
      `DateTime out of range: ${value.toISOString()} (accepted: ${DATE_TIME_MIN.toISOString()} to ${DATE_TIME_MAX.toISOString()})`,
    );
  }
  return value;
}

const base = DateTimeResolver.toConfig();

export const DateTime = new GraphQLScalarType<Date, Date | string>({
  ...base,
  description: `${base.description ?? 'A date-time string.'} Accepted from ${DATE_TIME_MIN.toISOString()} to ${DATE_TIME_MAX.toISOString()}.`,
  parseValue: (value: unknown) => bounded(base.parseValue!(value) as Date),
  parseLiteral: (ast: ValueNode, variables?: Record<string, unknown> | null) => bounded(base.parseLiteral!(ast, variables) as Date),
});
