import { Migration } from '@mikro-orm/migrations';

export class Migration20261130081054_inbox_seen_archived extends Migration {

  override name = 'Migration20261130081054_inbox_seen_archived';

  override up(): void | Promise<void> {
    this.addSql(`alter table "activity_feed_entry" add "unseen" boolean not null default false, add "archived" boolean not null default false;`);
    this.addSql(`create index "activity_feed_entry_archived_time_idx" on "activity_feed_entry" ("user_id", "action_timestamp", "action_id") where archived;`);

    this.addSql(`alter table "activity_unread_counter" add "unseen" int not null default 0;`);

    // Existing data: seen = read (what was unread is unseen), nothing archived.
    this.addSql(`update "activity_feed_entry" set "unseen" = true where "unread";`);
    this.addSql(`update "activity_unread_counter" set "unseen" = "count";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "activity_feed_entry_archived_time_idx";`);
    this.addSql(`alter table "activity_feed_entry" drop column "unseen", drop column "archived";`);

    this.addSql(`alter table "activity_unread_counter" drop column "unseen";`);
  }

}
