import { Migration } from '@mikro-orm/migrations';

export class Migration20261130070901_feed_order_by_time extends Migration {

  override name = 'Migration20261130070901_feed_order_by_time';

  override up(): void | Promise<void> {
    this.addSql(`drop index "activity_feed_entry_unread_idx";`);
    // Existing entries take their action's timestamp, then the column becomes required.
    this.addSql(`alter table "activity_feed_entry" add "action_timestamp" timestamptz null;`);
    this.addSql(`update "activity_feed_entry" f set "action_timestamp" = a."timestamp" from "activity_action" a where a."id" = f."action_id";`);
    this.addSql(`delete from "activity_feed_entry" where "action_timestamp" is null;`);
    this.addSql(`alter table "activity_feed_entry" alter column "action_timestamp" set not null;`);
    this.addSql(`create index "activity_feed_entry_time_idx" on "activity_feed_entry" ("user_id", "action_timestamp", "action_id");`);
    this.addSql(`create index "activity_feed_entry_unread_time_idx" on "activity_feed_entry" ("user_id", "action_timestamp", "action_id") where unread;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "activity_feed_entry_time_idx";`);
    this.addSql(`drop index "activity_feed_entry_unread_time_idx";`);
    this.addSql(`alter table "activity_feed_entry" drop column "action_timestamp";`);
    this.addSql(`create index "activity_feed_entry_unread_idx" on "activity_feed_entry" ("user_id", "action_id") where unread;`);
  }

}
