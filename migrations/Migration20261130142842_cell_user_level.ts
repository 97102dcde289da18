import { Migration } from '@mikro-orm/migrations';

/**
 * feedCounts and filtered unreadCount/unseenCount read the user's cells at or above a level: a (user, level) range
 * skips the cells below it (on the inbox data set half of the measured user's cells) without visiting their rows.
 * `user_id` and `level` never change in a cell, so cell updates stay HOT; only a new cell adds an entry.
 */
export class Migration20261130142842_cell_user_level extends Migration {

  override name = 'Migration20261130142842_cell_user_level';

  override up(): void | Promise<void> {
    this.addSql(`create index "activity_feed_cell_user_level_idx" on "activity_feed_cell" ("user_id", "level");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "activity_feed_cell_user_level_idx";`);
  }

}
