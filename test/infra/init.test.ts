// infra/init/mer-init.ts against the real servers it sets up in compose and on a cluster: a Temporal
// dev server started WITHOUT the custom search attributes and a versitygw S3 server, both on 127.0.0.1.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { requireTemporalCli } from '../../activities/common/tools.ts';
import { installRuntime } from '../../workers/runtime.ts';
import { MER_SEARCH_ATTRIBUTES, SEARCH_ATTRIBUTE_FLAGS } from '../../workflows/search-attributes.ts';
import { INDEXED_VALUE_TYPE, initOptionsFromEnv, runInit } from '../../infra/init/mer-init.ts';
import { startS3Server } from '../helpers/s3-server.ts';

/** A dev server WITHOUT the custom search attributes (registering them is mer-init's job), torn down after `t`. */
async function bareTemporal(t: TestContext): Promise<TestWorkflowEnvironment> {
  installRuntime('ERROR');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireTemporalCli() },
      ip: '127.0.0.1',
      extraArgs: ['--log-level', 'error'],
    },
  });
  t.after(() => env.teardown());
  return env;
}

test('mer-init creates the namespace, registers the search attributes and creates the bucket, idempotently', async (t) => {
  const env = await bareTemporal(t);
  const s3 = await startS3Server({ bucket: 'mer-unrelated' });
  t.after(() => s3.dispose());

  const address = env.connection.options.address;
  const lines: string[] = [];
  const opts = {
    ...initOptionsFromEnv({
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: 'mer-init-test',
      MER_CREATE_NAMESPACE: '1',
      MER_S3_BUCKET: 'mer-runs',
      MER_S3_ENDPOINT: s3.endpoint,
      MER_INIT_WAIT_SEC: '60',
    }),
    log: (l: string) => lines.push(l),
  };

  const first = await runInit(opts);
  assert.equal(first.namespaceCreated, true);
  assert.deepEqual([...first.searchAttributesAdded].sort(), SEARCH_ATTRIBUTE_FLAGS.map(([n]) => n).sort());
  assert.equal(first.bucketCreated, true);

  const listed = await env.connection.operatorService.listSearchAttributes({ namespace: 'mer-init-test' });
  for (const key of MER_SEARCH_ATTRIBUTES) {
    assert.equal(
      Number(listed.customAttributes?.[key.name]),
      INDEXED_VALUE_TYPE[key.type],
      `${key.name} registered as ${key.type}`,
    );
  }
  // The flag form the dev server and the README use names the same types.
  for (const [name, flag] of SEARCH_ATTRIBUTE_FLAGS) {
    const key = MER_SEARCH_ATTRIBUTES.find((k) => k.name === name)!;
    assert.equal(flag.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase(), key.type);
  }
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
  await client.send(new HeadBucketCommand({ Bucket: 'mer-runs' }));
  client.destroy();

  const second = await runInit(opts);
  assert.deepEqual(second, { namespaceCreated: false, searchAttributesAdded: [], bucketCreated: false });
  assert.ok(!lines.join('\n').includes(s3.secretAccessKey), 'the S3 secret never reaches the log');
});

test('mer-init refuses a missing namespace unless asked to create it, and a search attribute of another type', async (t) => {
  const env = await bareTemporal(t);
  const address = env.connection.options.address;
  const base = {
    ...initOptionsFromEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'absent', MER_INIT_WAIT_SEC: '5' }),
    log: () => {},
  };
  await assert.rejects(runInit(base), /namespace 'absent' does not exist/);

  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: { MerStage: INDEXED_VALUE_TYPE.INT },
  });
  await assert.rejects(
    runInit({ ...base, cluster: { ...base.cluster, namespace: 'default' } }),
    /MerStage exists with type/,
  );
});
