/** `npm run schema`: writes the printed Pothos schema to schema.graphql. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { schema } from '../schema/index.ts';
import { printSchemaFile } from '../schema/print.ts';

const target = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schema.graphql');
fs.writeFileSync(target, printSchemaFile(schema));
console.log(`Wrote ${path.relative(process.cwd(), target)}`);
