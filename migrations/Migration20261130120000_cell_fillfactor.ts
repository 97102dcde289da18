import { Migration } from '@mikro-orm/migrations';

/**
 * `activity_feed_cell` (one row per user and entry shape, updated by every fan-out and state change of its
 * entries, like the counter rows) keeps half of each page free, so that updates of a cell stay on its page
 * (HOT: no new entries in its primary key and its (user_id, shape) key). Applies to pages written from now on.
 */
export class Migration20261130120000_cell_fillfactor extends Migration {

  override name = 'Migration20261130120000_cell_fillfactor';

  override up(): void | Promise<void> {
    this.addSql(`alter table "activity_feed_cell" set (fillfactor = 50);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "activity_feed_cell" reset (fillfactor);`);
  }

}
