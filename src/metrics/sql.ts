import { sql, type RawBuilder } from 'kysely';
import type { Em } from '../db/orm.ts';

/**
 * Raw SQL with bound parameters (Kysely's `sql` tag through the EntityManager's Kysely instance, so it runs
 * in the EntityManager's transaction when there is one). Bound parameters matter here: the group commit
 * sends whole columns as arrays (`unnest($1::int[], ...)`), which MikroORM's `em.execute` would inline.
 */
export { sql };

export async function query<T>(em: Em, statement: RawBuilder<T>): Promise<T[]> {
  const result = await statement.execute(em.getKysely());
  return result.rows;
}

export async function queryOne<T>(em: Em, statement: RawBuilder<T>): Promise<T | undefined> {
  return (await query(em, statement))[0];
}

/** Timestamps are read as epoch milliseconds (`ms(column)`) so that both drivers give numbers. */
export const ms = (expression: RawBuilder<unknown>) => sql<number>`(extract(epoch from ${expression}) * 1000)::float8`;

export const toDate = (value: number | string): Date => new Date(Number(value));
