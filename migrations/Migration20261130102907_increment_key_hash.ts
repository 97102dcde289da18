import { Migration } from '@mikro-orm/migrations';

/**
 * Increment keys (issue 17): the 128-bit md5 uuid as the only column becomes a 64-bit hash (a smaller unique index:
 * 16-byte entries instead of 24) plus the caller scope and the key, compared on a hash match. The new hash is the
 * first 8 bytes of md5 of the same length-prefixed scope and key, so an existing key keeps its slot; its scope and
 * key are unknown, so it keeps an empty scope and its md5 as `md5:<hex>` (src/metrics/inbox.ts compares that form
 * too) and goes away with its window. Two existing
 * md5s sharing their first 8 bytes (about one pair per 2^64 keys) keep the newer one.
 */
export class Migration20261130102907_increment_key_hash extends Migration {

  override name = 'Migration20261130102907_increment_key_hash';

  override up(): void | Promise<void> {
    this.addSql(`alter table "metric_increment_key" add "scope" text not null default '', add "key" text null;`);
    this.addSql(`alter table "metric_increment_key" alter column "scope" drop default;`);
    this.addSql(`update "metric_increment_key" set "key" = 'md5:' || replace("hash"::text, '-', '');`);
    this.addSql(`alter table "metric_increment_key" alter column "key" set not null;`);
    this.addSql(`alter table "metric_increment_key" drop constraint "metric_increment_key_pkey";`);
    this.addSql(`alter table "metric_increment_key" alter column "hash" type bigint using (('x' || left(replace("hash"::text, '-', ''), 16))::bit(64)::bigint);`);
    this.addSql(`delete from "metric_increment_key" a using "metric_increment_key" b where a."hash" = b."hash" and (a."created_at", a."key") < (b."created_at", b."key");`);
    this.addSql(`alter table "metric_increment_key" add constraint "metric_increment_key_pkey" primary key ("hash");`);
  }

  override down(): void | Promise<void> {
    // The md5 uuid of each key: kept as such by migrated keys, md5 of the stored key for the others.
    this.addSql(`alter table "metric_increment_key" drop constraint "metric_increment_key_pkey";`);
    this.addSql(`alter table "metric_increment_key" alter column "hash" type uuid using ((case when "key" like 'md5:%' and "scope" = '' then substr("key", 5) else md5(length("scope") || ':' || "scope" || "key") end)::uuid);`);
    this.addSql(`alter table "metric_increment_key" add constraint "metric_increment_key_pkey" primary key ("hash");`);
    this.addSql(`alter table "metric_increment_key" drop column "scope", drop column "key";`);
  }

}
