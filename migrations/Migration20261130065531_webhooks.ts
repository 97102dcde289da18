import { Migration } from '@mikro-orm/migrations';

export class Migration20261130065531_webhooks extends Migration {

  override name = 'Migration20261130065531_webhooks';

  override up(): void | Promise<void> {
    this.addSql(`create table "webhook" ("id" serial primary key, "url" varchar(2048) not null, "events" text[] not null, "verbs" text[] null, "object_types" text[] null, "min_level" smallint null, "secret" varchar(128) not null, "remind_after" int null, "active" boolean not null default true, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now());`);

    this.addSql(`create table "webhook_delivery" ("id" bigserial primary key, "webhook_id" int not null, "event" varchar(32) not null, "payload" jsonb not null, "status" varchar(16) not null default 'PENDING', "attempts" int not null default 0, "next_attempt_at" timestamptz not null default now(), "batch_id" bigint null, "last_error" varchar(512) null, "last_status_code" smallint null, "created_at" timestamptz not null default now(), "delivered_at" timestamptz null);`);
    this.addSql(`create index "webhook_delivery_due_idx" on "webhook_delivery" ("next_attempt_at", "id") where status = 'PENDING';`);
    this.addSql(`create index "webhook_delivery_webhook_idx" on "webhook_delivery" ("webhook_id", "id");`);
    this.addSql(`create index "webhook_delivery_batch_idx" on "webhook_delivery" ("batch_id");`);
    this.addSql(`create index "webhook_delivery_delivered_idx" on "webhook_delivery" ("delivered_at") where status = 'DELIVERED';`);

    this.addSql(`create table "webhook_reminder" ("webhook_id" int not null, "user_id" varchar(256) not null, "action_id" bigint not null, "due_at" timestamptz not null, primary key ("webhook_id", "user_id", "action_id"));`);
    this.addSql(`create index "webhook_reminder_due_idx" on "webhook_reminder" ("due_at");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "webhook" cascade;`);
    this.addSql(`drop table if exists "webhook_delivery" cascade;`);
    this.addSql(`drop table if exists "webhook_reminder" cascade;`);
  }

}
