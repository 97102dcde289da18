// Feed inspector: a user's trackers, feed (with the trackers that matched each action) and unread count;
// an object's trackers and actions.
import { field, formatNumber, formatTime, formValues, h, parseObject } from '../dom.js';
import { heading, objectLabel, statusLine } from './common.js';

const OBJECT = 'type id label deleted description';
const TRACKER = `id owner objectType object { ${OBJECT} } verbs actorOnly createdAt`;
const ACTION = `id verb text level timestamp groupedCount unread actor { ${OBJECT} } targets { ${OBJECT} } related { ${OBJECT} }`;

const USER = `query ConsoleUserFeed($user: ID!, $after: String) {
  unreadCount(user: $user)
  trackers(user: $user) { ${TRACKER} }
  feed(user: $user, first: 20, after: $after) { edges { node { ${ACTION} matchedTrackers { id } } } pageInfo { hasNextPage endCursor } }
}`;
const UNREAD = 'query ConsoleUnread($user: ID!) { unreadCount(user: $user) }';
const OBJECT_QUERY = `query ConsoleObject($object: ObjectRefInput!, $after: String) {
  trackersOf(object: $object) { ${TRACKER} }
  actions(involving: $object, first: 20, after: $after) { edges { node { ${ACTION} } } pageInfo { hasNextPage endCursor } }
}`;

const trackerTarget = (t) => (t.object ? objectLabel(t.object) : h('span', {}, `every ${t.objectType}`));
const verbs = (t) => (t.verbs ? t.verbs.join(', ') : h('span.muted', {}, 'all'));

function trackersTable(caption, trackers, { owner = false } = {}) {
  if (trackers.length === 0) return h('p.empty', {}, 'No trackers.');
  return h(
    'div.table-wrap',
    { tabindex: '0', role: 'region', 'aria-label': caption },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, [...(owner ? ['Owner'] : []), 'Tracker', 'Follows', 'Verbs', 'Roles', 'Since'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        trackers.map((t) =>
          h(
            'tr',
            { dataset: { tracker: t.id } },
            owner ? h('td', {}, h('a', { href: `#/feeds?user=${encodeURIComponent(t.owner)}` }, t.owner)) : null,
            h('td', {}, h('code', {}, t.id)),
            h('td', {}, trackerTarget(t)),
            h('td', {}, verbs(t)),
            h('td', {}, t.actorOnly ? 'as actor' : 'any role'),
            h('td', {}, formatTime(t.createdAt)),
          ),
        ),
      ),
    ),
  );
}

function actionCells(action) {
  const objects = (list) => (list.length ? list.map((o, i) => [i ? ', ' : '', objectLabel(o)]) : h('span.muted', {}, '–'));
  return [
    h('td', {}, h('time', { datetime: action.timestamp }, formatTime(action.timestamp))),
    h('td', {}, action.text ?? h('span', {}, objectLabel(action.actor), ` ${action.verb}`), action.groupedCount > 1 ? h('span.tag', {}, `×${action.groupedCount}`) : null),
    h('td', {}, objects(action.targets)),
    h('td', {}, objects(action.related)),
    h('td', {}, action.level),
  ];
}

export default {
  title: 'Feeds',
  async render(root, params, ctx) {
    const user = params.get('user') ?? '';
    const object = params.get('object') ? parseObject(params.get('object')) : null;
    const status = statusLine();
    const userOut = h('div.user-output');
    const objectOut = h('div.object-output');

    root.append(
      ...heading('Feed inspector', "Why a user sees what they see: their trackers, their feed with the trackers that matched each action, their unread count; and who follows an object."),
      h(
        'div.grid-2',
        {},
        h(
          'form.controls.card',
          { 'aria-label': 'Inspect a user', on: { submit: (event) => { event.preventDefault(); const v = formValues(event.target); ctx.navigate('feeds', { user: v.user, object: params.get('object') }); } } },
          field('User id', h('input', { name: 'user', value: user, required: true, autocomplete: 'off' })),
          h('button.primary', { type: 'submit' }, 'Inspect user'),
        ),
        h(
          'form.controls.card',
          {
            'aria-label': 'Inspect an object',
            on: {
              submit: (event) => {
                event.preventDefault();
                const v = formValues(event.target);
                ctx.navigate('feeds', { user: params.get('user'), object: `${v.type}:${v.id}` });
              },
            },
          },
          field('Object type', h('input', { name: 'type', value: object?.type ?? '', required: true, autocomplete: 'off' })),
          field('Object id', h('input', { name: 'id', value: object?.id ?? '', required: true, autocomplete: 'off' })),
          h('button.primary', { type: 'submit' }, 'Inspect object'),
        ),
      ),
      status.element,
      userOut,
      objectOut,
    );

    let after = null;
    async function loadUser(more = false) {
      const data = await ctx.api.request(USER, { user, after: more ? after : null });
      const trackerNames = new Map(data.trackers.map((t) => [t.id, t.object ? `${t.object.type}:${t.object.id}` : `every ${t.objectType}`]));
      after = data.feed.pageInfo.endCursor;
      const rows = data.feed.edges.map(({ node }) =>
        h(
          'tr',
          { class: node.unread ? 'unread' : '', dataset: { action: node.id } },
          h('td', {}, node.unread ? h('span.tag.on', {}, 'unread') : h('span.muted', {}, 'read')),
          ...actionCells(node),
          h('td', {}, node.matchedTrackers.length ? node.matchedTrackers.map((t) => h('span.tag', { title: t.id }, trackerNames.get(t.id) ?? t.id)) : h('span.muted', {}, 'none left')),
        ),
      );
      const tbody = userOut.querySelector('tbody.feed-rows');
      if (more && tbody) {
        tbody.append(...rows);
      } else {
        userOut.replaceChildren(
          h(
            'section.card',
            { 'aria-label': `User ${user}` },
            h('h2', {}, 'User ', h('code', {}, user), ' ', h('span.badge', { dataset: { unread: String(data.unreadCount) } }, `${formatNumber(data.unreadCount)} unread`)),
            trackersTable(`Trackers of ${user}`, data.trackers),
            rows.length
              ? h(
                  'div.table-wrap',
                  { tabindex: '0', role: 'region', 'aria-label': `Feed of ${user}` },
                  h(
                    'table.feed',
                    {},
                    h('caption', {}, `Feed of ${user}, newest first`),
                    h('thead', {}, h('tr', {}, ['', 'When', 'Action', 'Targets', 'Related', 'Level', 'Matched trackers'].map((c) => h('th', { scope: 'col' }, c)))),
                    h('tbody.feed-rows', {}, rows),
                  ),
                )
              : h('p.empty', {}, 'The feed is empty.'),
            h('button.more', { type: 'button', hidden: !data.feed.pageInfo.hasNextPage, on: { click: () => loadUser(true).catch(ctx.fail) } }, 'Show more'),
          ),
        );
      }
      userOut.querySelector('button.more').hidden = !data.feed.pageInfo.hasNextPage;
    }

    let objectAfter = null;
    async function loadObject(more = false) {
      const data = await ctx.api.request(OBJECT_QUERY, { object, after: more ? objectAfter : null });
      objectAfter = data.actions.pageInfo.endCursor;
      const rows = data.actions.edges.map(({ node }) => h('tr', { dataset: { action: node.id } }, ...actionCells(node)));
      const tbody = objectOut.querySelector('tbody.action-rows');
      if (more && tbody) {
        tbody.append(...rows);
      } else {
        objectOut.replaceChildren(
          h(
            'section.card',
            { 'aria-label': `Object ${object.type}:${object.id}` },
            h('h2', {}, 'Object ', h('code', {}, `${object.type}:${object.id}`)),
            trackersTable(`Trackers following ${object.type}:${object.id}`, data.trackersOf, { owner: true }),
            rows.length
              ? h(
                  'div.table-wrap',
                  { tabindex: '0', role: 'region', 'aria-label': `Actions involving ${object.type}:${object.id}` },
                  h(
                    'table',
                    {},
                    h('caption', {}, `Actions involving ${object.type}:${object.id}, newest first`),
                    h('thead', {}, h('tr', {}, ['When', 'Action', 'Targets', 'Related', 'Level'].map((c) => h('th', { scope: 'col' }, c)))),
                    h('tbody.action-rows', {}, rows),
                  ),
                )
              : h('p.empty', {}, 'No actions involve it.'),
            h('button.more', { type: 'button', hidden: !data.actions.pageInfo.hasNextPage, on: { click: () => loadObject(true).catch(ctx.fail) } }, 'Show more'),
          ),
        );
      }
      objectOut.querySelector('button.more').hidden = !data.actions.pageInfo.hasNextPage;
    }

    if (!user && !object) {
      status.element.textContent = 'Enter a user id or an object.';
      return;
    }
    status.loading();
    try {
      await Promise.all([user ? loadUser() : null, object ? loadObject() : null]);
      status.done(Boolean(user));
    } catch (error) {
      status.failed(error);
      ctx.fail(error);
    }
    if (user) {
      // Live: the unread count (a changed count reloads the first page).
      ctx.live(async () => {
        const { unreadCount } = await ctx.api.request(UNREAD, { user });
        const badge = userOut.querySelector('.badge');
        if (badge && badge.dataset.unread !== String(unreadCount)) await loadUser();
        status.done(true);
      });
    }
  },
};
