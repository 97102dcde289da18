import { Migration } from '@mikro-orm/migrations';

export class Migration20261130071518_idempotency_keys extends Migration {

  override name = 'Migration20261130071518_idempotency_keys';

  override up(): void | Promise<void> {
    this.addSql(`create table "activity_action_key" ("scope" varchar(300) not null, "key" varchar(300) not null, "action_id" bigint null, "created_at" timestamptz not null default now(), primary key ("scope", "key"));`);
    this.addSql(`create index "activity_action_key_action_id_index" on "activity_action_key" ("action_id");`);
    this.addSql(`create index "activity_action_key_created_at_index" on "activity_action_key" ("created_at");`);

    this.addSql(`create table "metric_increment_key" ("hash" uuid not null, "created_at" timestamptz not null default now(), primary key ("hash"));`);
    this.addSql(`create index "metric_increment_key_created_at_brin" on "metric_increment_key" using brin ("created_at");`);

    this.addSql(`alter table "activity_action_key" add constraint "activity_action_key_action_id_foreign" foreign key ("action_id") references "activity_action" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "activity_action_key" cascade;`);
    this.addSql(`drop table if exists "metric_increment_key" cascade;`);
  }

}
