/** The activity module's GraphQL types and fields, one file per concept. */
import './tracker.ts';
import './action.ts';
import './feed.ts';
import './deleted-items.ts';
import './feed-counts.ts';
import './user-data.ts';
