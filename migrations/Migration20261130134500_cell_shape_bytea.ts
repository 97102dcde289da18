import { Migration } from '@mikro-orm/migrations';

/**
 * `activity_feed_cell.shape` becomes the 32 bytes of its SHA-256 instead of their hex text (feed-cells.ts): the
 * fan-out computes one key per receiving user and no longer hex-encodes it, and the (user_id, shape) key it probes
 * per user is half the size and compared bytewise. Existing keys are decoded (the same hash, so every cell keeps
 * its shape and its entries); the table and its indexes are rewritten once (fillfactor kept).
 */
export class Migration20261130134500_cell_shape_bytea extends Migration {

  override name = 'Migration20261130134500_cell_shape_bytea';

  override up(): void | Promise<void> {
    this.addSql(`alter table "activity_feed_cell" alter column "shape" type bytea using decode("shape", 'hex');`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "activity_feed_cell" alter column "shape" type varchar(64) using encode("shape", 'hex');`);
  }

}
