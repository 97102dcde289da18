import { Migration } from '@mikro-orm/migrations';

/**
 * The position of each user's last feed change moves from `activity_feed_position` into the user's row of
 * `activity_unread_counter` (one row and one row lock per user for everything a feed change moves: the fan-out
 * upserts one row per receiving user instead of two). Existing positions are carried over (a user with a
 * position and no counter row gets one with zero counts), so that change-stream cursors stay valid.
 */
export class Migration20261130102018_feed_position_in_counter extends Migration {

  override name = 'Migration20261130102018_feed_position_in_counter';

  override up(): void | Promise<void> {
    this.addSql(`alter table "activity_unread_counter" add "position" bigint not null default '0';`);
    this.addSql(`insert into "activity_unread_counter" ("user_id", "count", "unseen", "position")
      select "user_id", 0, 0, "position" from "activity_feed_position"
      on conflict ("user_id") do update set "position" = excluded."position";`);
    this.addSql(`drop table if exists "activity_feed_position" cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`create table "activity_feed_position" ("user_id" varchar(256) not null, "position" int8 not null, primary key ("user_id"));`);
    this.addSql(`insert into "activity_feed_position" ("user_id", "position")
      select "user_id", "position" from "activity_unread_counter" where "position" > 0;`);
    this.addSql(`alter table "activity_unread_counter" drop column "position";`);
  }

}
