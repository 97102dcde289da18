/**
 * `/trackql.js` (a classic script for one <script> tag) made from `client/trackql.mjs` (the ES module), so
 * that both are one source: the module's body without its final `export { … };` line, in a function that
 * starts a tracker from the <script> element and publishes it as `window.trackql`. The module keeps its
 * exports on that single last statement so this stays a plain, checked text operation (no bundler at run time).
 */
const EXPORT_LINE = /\nexport \{ createTracker, startFromScript \};\s*$/;

export function classicTrackerScript(moduleSource: string): string {
  if (!EXPORT_LINE.test(moduleSource) || /^export /m.test(moduleSource.replace(EXPORT_LINE, ''))) {
    throw new Error('client/trackql.mjs must end with its only export statement: export { createTracker, startFromScript };');
  }
  const body = moduleSource.replace(EXPORT_LINE, '\n');
  return `(function () {\n'use strict';\n${body}\nif (!window.trackql) window.trackql = startFromScript(document.currentScript);\n})();\n`;
}
