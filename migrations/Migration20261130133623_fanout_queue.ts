import { Migration } from '@mikro-orm/migrations';

export class Migration20261130133623_fanout_queue extends Migration {

  override name = 'Migration20261130133623_fanout_queue';

  override up(): void | Promise<void> {
    this.addSql(`create table "activity_fanout_job" ("action_id" bigint not null, "queued_at" timestamptz not null default now(), primary key ("action_id"));`);

    this.addSql(`alter table "activity_fanout_job" add constraint "activity_fanout_job_action_id_foreign" foreign key ("action_id") references "activity_action" ("id") on update cascade on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "activity_fanout_job" cascade;`);
  }

}
