import { Migration } from '@mikro-orm/migrations';

export class Migration20261123182915_activity extends Migration {

  override name = 'Migration20261123182915_activity';

  override up(): void | Promise<void> {
    this.addSql(`create table "activity_action" ("id" bigserial primary key, "actor_type" varchar(128) not null, "actor_id" varchar(256) not null, "actor_label" varchar(256) null, "verb" varchar(128) not null, "data" jsonb null, "level" smallint not null, "timestamp" timestamptz not null, "grouped_count" int not null default 1, "created_at" timestamptz not null default now());`);
    this.addSql(`create index "activity_action_actor_idx" on "activity_action" ("actor_type", "actor_id", "id");`);
    this.addSql(`create index "activity_action_grouping_idx" on "activity_action" ("actor_type", "actor_id", "verb", "timestamp");`);

    this.addSql(`create table "activity_action_object" ("action_id" bigint not null, "role" varchar(8) not null, "object_type" varchar(128) not null, "object_id" varchar(256) not null, "label" varchar(256) null, "position" smallint not null, primary key ("action_id", "role", "object_type", "object_id"));`);
    this.addSql(`create index "activity_action_object_object_idx" on "activity_action_object" ("object_type", "object_id", "role", "action_id");`);

    this.addSql(`create table "activity_feed_entry" ("user_id" varchar(256) not null, "action_id" bigint not null, "unread" boolean not null, "tracker_ids" int[] not null, primary key ("user_id", "action_id"));`);
    this.addSql(`create index "activity_feed_entry_unread_idx" on "activity_feed_entry" ("user_id", "action_id") where unread;`);
    this.addSql(`create index "activity_feed_entry_action_idx" on "activity_feed_entry" ("action_id");`);

    this.addSql(`create table "activity_tracker" ("id" serial primary key, "owner_id" varchar(256) not null, "object_type" varchar(128) not null, "object_id" varchar(256) not null, "object_label" varchar(256) null, "verbs" text[] null, "actor_only" boolean not null, "created_at" timestamptz not null default now());`);
    this.addSql(`create index "activity_tracker_object_idx" on "activity_tracker" ("object_type", "object_id");`);
    this.addSql(`alter table "activity_tracker" add constraint "activity_tracker_owner_object_uniq" unique ("owner_id", "object_type", "object_id");`);

    this.addSql(`create table "activity_unread_counter" ("user_id" varchar(256) not null, "count" int not null, primary key ("user_id"));`);

    this.addSql(`create table "activity_verb" ("verb" varchar(128) not null, "template" text not null, "updated_at" timestamptz not null default now(), primary key ("verb"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "activity_action" cascade;`);
    this.addSql(`drop table if exists "activity_action_object" cascade;`);
    this.addSql(`drop table if exists "activity_feed_entry" cascade;`);
    this.addSql(`drop table if exists "activity_tracker" cascade;`);
    this.addSql(`drop table if exists "activity_unread_counter" cascade;`);
    this.addSql(`drop table if exists "activity_verb" cascade;`);
  }

}
