import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';

/** The text committed as `schema.graphql`. */
export function printSchemaFile(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema)).trim()}\n`;
}
