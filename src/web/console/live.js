// Live numbers. trackql has no live metric subscription yet, so views refresh on an interval while the page
// is visible. A view asks for `live(refresh)`; when a metric subscription exists, this is where it plugs in
// (subscribe instead of polling for the views that show a metric), and the views stay as they are.

export const LIVE_INTERVAL_MS = 5000;

/** Calls `refresh` every `ms` while the document is visible; returns a stop function. */
export function live(refresh, ms = LIVE_INTERVAL_MS) {
  let stopped = false;
  let timer = 0;
  let running = false;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === 'visible' && !running) {
      running = true;
      try {
        await refresh();
      } catch {
        // The view shows its own error; the next tick tries again.
      } finally {
        running = false;
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
