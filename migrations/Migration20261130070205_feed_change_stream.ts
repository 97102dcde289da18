import { Migration } from '@mikro-orm/migrations';

export class Migration20261130070205_feed_change_stream extends Migration {

  override name = 'Migration20261130070205_feed_change_stream';

  override up(): void | Promise<void> {
    this.addSql(`create table "activity_feed_change" ("user_id" varchar(256) not null, "position" bigint not null, "kind" varchar(16) not null, "action_id" bigint null, "created_at" timestamptz not null default now(), primary key ("user_id", "position"));`);
    this.addSql(`create index "activity_feed_change_created_idx" on "activity_feed_change" ("created_at");`);

    this.addSql(`create table "activity_feed_position" ("user_id" varchar(256) not null, "position" bigint not null, primary key ("user_id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "activity_feed_change" cascade;`);
    this.addSql(`drop table if exists "activity_feed_position" cascade;`);
  }

}
