import { Migration } from '@mikro-orm/migrations';

/**
 * Cheaper fan-out writes:
 * - `activity_feed_change_created_idx` (the retention prune by created_at) becomes a BRIN index: change rows
 *   arrive in created_at order, so a few block ranges answer the prune, and each of the fan-out's N change rows no
 *   longer costs a btree insertion.
 * - `activity_unread_counter` (one row per user, updated by every feed change of the user) keeps half of each page
 *   free, so that updates of a counter row stay on its page (HOT: no new primary-key entry). Applies to pages
 *   written from now on.
 */
export class Migration20261130102821_fanout_indexes extends Migration {

  override name = 'Migration20261130102821_fanout_indexes';

  override up(): void | Promise<void> {
    this.addSql(`drop index "activity_feed_change_created_idx";`);
    this.addSql(`create index "activity_feed_change_created_idx" on "activity_feed_change" using brin ("created_at");`);
    this.addSql(`alter table "activity_unread_counter" set (fillfactor = 50);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "activity_unread_counter" reset (fillfactor);`);
    this.addSql(`drop index "activity_feed_change_created_idx";`);
    this.addSql(`create index "activity_feed_change_created_idx" on "activity_feed_change" ("created_at");`);
  }

}
