// Copies hookwatch's config JSON Schema (`hookwatch schema`) into helm/hookwatch/values.schema.json as
// definitions.hookwatchConfig, so `helm lint`/`helm install` reject a config typo before a pod crash-loops.
// Run after changing the config schema; test/helm-values-schema.test.ts fails while the two differ.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = join(root, 'helm', 'hookwatch', 'values.schema.json');
const config = JSON.parse(execFileSync(process.execPath, [join(root, 'bin', 'hookwatch.js'), 'schema'], { encoding: 'utf8' }));
// Embedded as a subschema of a draft-07 document: its own $schema/$id would make it a separate resource.
delete config.$schema;
delete config.$id;
const values = JSON.parse(readFileSync(file, 'utf8'));
values.definitions = { ...values.definitions, hookwatchConfig: config };
writeFileSync(file, `${JSON.stringify(values, null, 2)}\n`);
