import { Migration } from '@mikro-orm/migrations';

export class Migration20261130212859_object_labels extends Migration {

  override name = 'Migration20261130212859_object_labels';

  override up(): void | Promise<void> {
    this.addSql(`create table "object_label" ("object_type" varchar(128) not null, "object_id" varchar(256) not null, "label" varchar(256) not null, "updated_at" timestamptz not null default now(), primary key ("object_type", "object_id"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "object_label" cascade;`);
  }

}
