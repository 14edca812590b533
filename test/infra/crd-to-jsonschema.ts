/**
 * CustomResourceDefinition (YAML) -> one JSON schema per served version, in the layout kubeconform's
 * `-schema-location '<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'` reads. Same rules
 * as kubeconform's openapi2jsonschema.py in strict mode: objects that list properties allow no others,
 * and int-or-string fields accept a string or an integer.
 *
 *   node --import tsx test/infra/crd-to-jsonschema.ts <out-dir> <crd.yaml>...
 *
 * Used by test/infra/schemas/generate.sh to produce the vendored KEDA schemas; not run by the tests.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function strictify(node: Json): Json {
  if (Array.isArray(node)) return node.map(strictify);
  if (node === null || typeof node !== 'object') return node;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) out[k] = strictify(v);
  if (out['x-kubernetes-int-or-string'] === true || out.format === 'int-or-string') {
    delete out.type;
    delete out.format;
    out.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (
    out.properties &&
    typeof out.properties === 'object' &&
    !Array.isArray(out.properties) &&
    !('additionalProperties' in out)
  ) {
    out.additionalProperties = false;
  }
  return out;
}

export function convertCrd(yamlText: string): Array<{ file: string; schema: Json }> {
  const out: Array<{ file: string; schema: Json }> = [];
  for (const doc of parseAllDocuments(yamlText)) {
    const crd = doc.toJSON() as {
      kind?: string;
      spec?: {
        group: string;
        names: { kind: string };
        versions: Array<{ name: string; schema?: { openAPIV3Schema: Json } }>;
      };
    };
    if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
    for (const v of crd.spec.versions) {
      if (!v.schema) continue;
      const schema = strictify(v.schema.openAPIV3Schema) as { [k: string]: Json };
      out.push({ file: join(crd.spec.group, `${crd.spec.names.kind.toLowerCase()}_${v.name}.json`), schema });
    }
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [outDir, ...crds] = process.argv.slice(2);
  if (!outDir || !crds.length) {
    console.error('usage: crd-to-jsonschema.ts <out-dir> <crd.yaml>...');
    process.exit(2);
  }
  for (const f of crds) {
    for (const { file, schema } of convertCrd(readFileSync(f, 'utf8'))) {
      const dest = join(outDir, file);
      mkdirSync(join(dest, '..'), { recursive: true });
      writeFileSync(dest, JSON.stringify(schema, null, 1) + '\n');
      console.error(`wrote ${dest}`);
    }
  }
}
