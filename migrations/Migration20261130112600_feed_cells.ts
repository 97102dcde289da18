import { Migration } from '@mikro-orm/migrations';
import { REBUILD_CELLS_SQL } from '../src/activity/feed-cells.ts';

export class Migration20261130112600_feed_cells extends Migration {

  override name = 'Migration20261130112600_feed_cells';

  override up(): void | Promise<void> {
    this.addSql(`create table "activity_feed_cell" ("id" bigserial primary key, "user_id" varchar(256) not null, "shape" varchar(64) not null, "verb" varchar(128) not null, "level" smallint not null, "actor_type" varchar(128) not null, "object_types" text[] not null, "tracker_ids" int[] not null, "total" int not null, "unread" int not null, "unseen" int not null, "seen_epoch" int not null default 0);`);
    this.addSql(`alter table "activity_feed_cell" add constraint "activity_feed_cell_user_shape_uniq" unique ("user_id", "shape");`);

    this.addSql(`alter table "activity_feed_entry" add "cell_id" bigint null, add "seen_epoch" int not null default 0;`);

    this.addSql(`alter table "activity_unread_counter" add "seen_epoch" int not null default 0;`);

    // Existing data: every entry's shape counted into its cell (feed-cells.ts), every entry pointed at its cell.
    for (const statement of REBUILD_CELLS_SQL) this.addSql(statement);
    this.addSql(`alter table "activity_feed_entry" alter column "cell_id" set not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "activity_feed_cell" cascade;`);

    this.addSql(`alter table "activity_feed_entry" drop column "cell_id", drop column "seen_epoch";`);

    this.addSql(`alter table "activity_unread_counter" drop column "seen_epoch";`);
  }

}
