// Refuses an old Node.js with a clear message, before `npm install` and `npm start` (package.json's
// "preinstall" and "prestart"). Written for any Node.js version: no syntax newer than ES5 + const/let.
// The required version is read from package.json's "engines.node" (">=22.17"), the one place it is set.
'use strict';
var fs = require('fs');
var path = require('path');

function parseMinimum(range) {
  var match = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range || '');
  if (!match) return null;
  return [Number(match[1]), Number(match[2] || 0), Number(match[3] || 0)];
}

function atLeast(version, minimum) {
  var parts = String(version).replace(/^v/, '').split('.').map(Number);
  for (var i = 0; i < 3; i++) {
    var have = parts[i] || 0;
    if (have !== minimum[i]) return have > minimum[i];
  }
  return true;
}

var pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
var range = (pkg.engines && pkg.engines.node) || '';
var minimum = parseMinimum(range);
if (!minimum) {
  console.error('scripts/check-node.cjs: cannot read engines.node "' + range + '" in package.json (expected ">=X.Y")');
  process.exit(1);
}
var found = process.versions.node;
if (!atLeast(found, minimum)) {
  var wanted = minimum[0] + '.' + minimum[1] + (minimum[2] ? '.' + minimum[2] : '');
  console.error(
    [
      '',
      'trackql needs Node.js \u2265 ' + wanted + ' (found ' + found + '): it runs its TypeScript sources with Node\'s',
      'built-in type stripping, which older versions lack. Install Node.js 24 LTS and run the command again:',
      '  - with nvm:   nvm install 24 && nvm use 24',
      '  - with fnm:   fnm install 24 && fnm use 24',
      '  - with Volta: volta install node@24',
      '  - or the installer or package for your system listed on nodejs.org (Download page).',
      'Check with `node -v`; this Node.js is ' + process.execPath + '.',
      '',
    ].join('\n'),
  );
  process.exit(1);
}
