import { Migration } from '@mikro-orm/migrations';

export class Migration20261123182319_initial extends Migration {

  override name = 'Migration20261123182319_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table "forgotten_object" ("object_type" varchar(128) not null, "object_id" varchar(256) not null, "label" varchar(256) null, "description" text null, "serialization" jsonb null, "forgotten_at" timestamptz not null default now(), primary key ("object_type", "object_id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "forgotten_object" cascade;`);
  }

}
