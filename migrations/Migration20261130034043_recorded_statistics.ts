import { Migration } from '@mikro-orm/migrations';

export class Migration20261130034043_recorded_statistics extends Migration {

  override name = 'Migration20261130034043_recorded_statistics';

  override up(): void | Promise<void> {
    this.addSql(`create table "metric_recorded_statistic" ("metric_id" int not null, "object_type" varchar(128) not null, "object_id" varchar(256) not null, "period" varchar(8) not null, "date" date not null, "value" double precision not null, "recorded_at" timestamptz not null default now(), primary key ("metric_id", "object_type", "object_id", "period", "date"));`);
    this.addSql(`create index "metric_recorded_statistic_metric_id_period_date_index" on "metric_recorded_statistic" ("metric_id", "period", "date");`);

    this.addSql(`alter table "metric_recorded_statistic" add constraint "metric_recorded_statistic_metric_id_foreign" foreign key ("metric_id") references "metric" ("id") on delete cascade;`);

    // Gauge values recorded so far were kept in metric_statistic at the start of their period (an instant, in
    // the time zone of the request, which was not stored). They move to dates: LIFETIME values (one per key)
    // to the date of this migration, as the value known today; the others to the UTC date of their start
    // + 12 hours, which is the local date of the start in every zone from UTC-12 to UTC+12. Several HOUR
    // values of one date keep the latest hour's.
    this.addSql(`insert into "metric_recorded_statistic" ("metric_id", "object_type", "object_id", "period", "date", "value", "recorded_at")
      select distinct on (s."metric_id", s."object_type", s."object_id", s."period", 5)
        s."metric_id", s."object_type", s."object_id", s."period",
        case when s."period" = 'LIFETIME' then (now() at time zone 'UTC')::date
             else ((s."start" + interval '12 hours') at time zone 'UTC')::date end,
        s."value", now()
      from "metric_statistic" s join "metric" m on m."id" = s."metric_id"
      where m."kind" = 'GAUGE' and s."level" = 0 and s."category" = '' and s."dom_id" = ''
        and s."period" in ('HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'LIFETIME')
      order by s."metric_id", s."object_type", s."object_id", s."period", 5, s."start" desc;`);
    this.addSql(`delete from "metric_statistic" s using "metric" m
      where m."id" = s."metric_id" and m."kind" = 'GAUGE' and s."level" = 0 and s."category" = '' and s."dom_id" = ''
        and s."period" in ('HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR', 'LIFETIME');`);
  }

  override down(): void | Promise<void> {
    // Back to one value per period start: the latest date of each key, at its UTC midnight (LIFETIME: the epoch).
    this.addSql(`insert into "metric_statistic" ("metric_id", "level", "object_type", "object_id", "period", "start", "category", "dom_id", "value")
      select distinct on (r."metric_id", r."object_type", r."object_id", r."period", 6)
        r."metric_id", 0, r."object_type", r."object_id", r."period",
        case when r."period" = 'LIFETIME' then timestamptz 'epoch' else (r."date"::timestamp at time zone 'UTC') end, '', '', r."value"
      from "metric_recorded_statistic" r
      order by r."metric_id", r."object_type", r."object_id", r."period", 6, r."date" desc
      on conflict do nothing;`);
    this.addSql(`drop table if exists "metric_recorded_statistic" cascade;`);
  }

}
