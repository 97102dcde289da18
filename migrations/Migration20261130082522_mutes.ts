import { Migration } from '@mikro-orm/migrations';

export class Migration20261130082522_mutes extends Migration {

  override name = 'Migration20261130082522_mutes';

  override up(): void | Promise<void> {
    this.addSql(`alter table "activity_tracker" drop constraint "activity_tracker_owner_object_uniq";`);
    this.addSql(`alter table "activity_tracker" add "mute" boolean not null default false;`);
    this.addSql(`alter table "activity_tracker" add constraint "activity_tracker_owner_object_uniq" unique ("owner_id", "object_type", "object_id", "mute");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "activity_tracker" drop constraint "activity_tracker_owner_object_uniq";`);
    this.addSql(`alter table "activity_tracker" drop column "mute";`);
    this.addSql(`alter table "activity_tracker" add constraint "activity_tracker_owner_object_uniq" unique ("owner_id", "object_type", "object_id");`);
  }

}
