import { Migration } from '@mikro-orm/migrations';

export class Migration20261123183124_metrics extends Migration {

  override name = 'Migration20261123183124_metrics';

  override up(): void | Promise<void> {
    this.addSql(`create table "metric_dead_letter" ("id" bigserial primary key, "inbox_id" bigint not null, "metric_id" int not null, "object_type" varchar(128) not null, "object_id" varchar(256) not null, "category" varchar(128) not null, "dom_id" varchar(256) not null, "amount" int not null, "occurred_at" timestamptz not null, "reason" varchar(64) not null, "dead_at" timestamptz not null default now());`);
    this.addSql(`create index "metric_dead_letter_dead_at_index" on "metric_dead_letter" ("dead_at");`);

    this.addSql(`create table "metric_domain" ("id" serial primary key, "ref" varchar(64) not null, "name" varchar(256) not null, "open_metrics" boolean not null default false, "public_metrics" boolean not null default false, "created_at" timestamptz not null default now());`);
    this.addSql(`alter table "metric_domain" add constraint "metric_domain_ref_unique" unique ("ref");`);

    this.addSql(`create table "metric" ("id" serial primary key, "domain_id" int not null, "ref" varchar(128) not null, "name" varchar(256) not null, "kind" varchar(8) not null, "public" boolean not null default false, "allow_negative" boolean not null default false, "auto_created" boolean not null default false, "created_at" timestamptz not null default now());`);
    this.addSql(`alter table "metric" add constraint "metric_domain_id_ref_unique" unique ("domain_id", "ref");`);

    this.addSql(`create table "metric_inbox" ("id" bigserial primary key, "metric_id" int not null, "object_type" varchar(128) not null default '', "object_id" varchar(256) not null default '', "category" varchar(128) not null default '', "dom_id" varchar(256) not null default '', "amount" int not null, "occurred_at" timestamptz not null);`);
    this.addSql(`create index "metric_inbox_metric_id_index" on "metric_inbox" ("metric_id");`);

    this.addSql(`create table "metric_statistic" ("metric_id" int not null, "level" smallint not null, "object_type" varchar(128) not null, "object_id" varchar(256) not null, "period" varchar(8) not null, "start" timestamptz not null, "category" varchar(128) not null, "dom_id" varchar(256) not null, "value" double precision not null, primary key ("metric_id", "level", "object_type", "object_id", "period", "start", "category", "dom_id"));`);
    this.addSql(`create index "metric_statistic_metric_id_period_start_index" on "metric_statistic" ("metric_id", "period", "start");`);
    this.addSql(`create index "metric_statistic_dom_id_index" on "metric_statistic" ("dom_id") where dom_id <> '';`);

    this.addSql(`alter table "metric" add constraint "metric_domain_id_foreign" foreign key ("domain_id") references "metric_domain" ("id") on delete cascade;`);

    this.addSql(`alter table "metric_statistic" add constraint "metric_statistic_metric_id_foreign" foreign key ("metric_id") references "metric" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "metric" drop constraint "metric_domain_id_foreign";`);
    this.addSql(`alter table "metric_statistic" drop constraint "metric_statistic_metric_id_foreign";`);

    this.addSql(`drop table if exists "metric_dead_letter" cascade;`);
    this.addSql(`drop table if exists "metric_domain" cascade;`);
    this.addSql(`drop table if exists "metric" cascade;`);
    this.addSql(`drop table if exists "metric_inbox" cascade;`);
    this.addSql(`drop table if exists "metric_statistic" cascade;`);
  }

}
