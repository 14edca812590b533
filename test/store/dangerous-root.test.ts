import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError, buildRunConfig, loadConfigFile, toPipelineInput } from '../../cli/config.ts';
import { LocalStoreSpecSchema } from '../../schemas/store.ts';
import { LocalStore, createStore, localRootRefusal } from '../../activities/store/index.ts';
import { ErrorTypes, MerError, toFailure } from '../../activities/common/errors.ts';
import { runMer } from '../helpers/cli.ts';

/**
 * Issue 14, class 7: a local store root of `/`, a system folder or the home folder is refused when the
 * config is read (naming the field and line) and again when a store is opened, whatever spelling gets
 * there: `..`, repeated slashes, a relative path, a symlink.
 */

const REFUSED = [
  '/',
  '//',
  '/./',
  '/etc',
  '/etc/',
  '/etc/mer-store',
  '/usr/../etc',
  '/tmp/../../../',
  '/proc/self/cwd',
  '/sys/kernel',
  '/dev',
  '/boot/mer',
  '/usr',
  '/usr/lib/mer',
  '/var',
  '/var/lib',
  '/home',
  '/root',
  '/tmp',
  '/bin',
  '/lib64',
  '/Users',
];
const ALLOWED = ['/srv/mer-store', '/var/lib/mer', '/dev/shm/mer-store', '/tmp/mer-store', '/usr/local/mer', '/data'];

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'mer-root-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

function refusedAtOpen(root: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    new LocalStore(root);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MerError, `new LocalStore(${root}) must throw, got ${String(caught)}`);
  assert.equal(caught.type, ErrorTypes.StoreRootUnusable);
  assert.match(caught.message, pattern);
  const failure = toFailure(caught);
  assert.ok(failure instanceof ApplicationFailure && failure.nonRetryable);
}

describe('dangerous local store roots', () => {
  test('the schema refuses / and system folders however spelled, and allows folders of their own', () => {
    for (const root of REFUSED) {
      const r = LocalStoreSpecSchema.safeParse({ kind: 'local', root });
      assert.ok(!r.success, `${root} must be refused`);
      assert.match(r.error.issues[0].message, /root must be a folder of its own/);
      assert.deepEqual(r.error.issues[0].path, ['root']);
    }
    for (const root of [...ALLOWED, '.mer/store', 'relative/store']) {
      assert.ok(LocalStoreSpecSchema.safeParse({ kind: 'local', root }).success, `${root} must be allowed`);
    }
  });

  test('a config file naming /etc is refused with its file, line and field', async () => {
    const file = join(scratch, 'mer.yaml');
    await writeFile(file, 'name: hostile\nstore:\n  kind: local\n  root: /usr/../etc\n');
    const err = configErrorOf(() => loadConfigFile(file));
    assert.match(err.message, new RegExp(`${file}:4: field store.root: root must be a folder of its own`));
    assert.match(err.message, /\/etc is a system folder/);
  });

  test('--store / on the command line is refused before anything runs', async () => {
    const corpus = join(scratch, 'MELD.Raw');
    await mkdir(corpus, { recursive: true });
    const err = configErrorOf(() => buildRunConfig(undefined, { meld: corpus, store: '/', until: 'acquire' }));
    assert.match(err.message, /field store\.root: .*file system root/);
  });

  test('a relative root that climbs to / is refused once resolved, naming the field', async () => {
    const corpus = join(scratch, 'MELD.Raw');
    await mkdir(corpus, { recursive: true });
    const climb = relative(scratch, '/') || '.';
    const file = join(scratch, 'climb.yaml');
    await writeFile(
      file,
      `until: acquire\ndatasets:\n  meld:\n    source: ${corpus}\nstore:\n  kind: local\n  root: ${climb}\n`,
    );
    const config = loadConfigFile(file);
    const err = configErrorOf(() => toPipelineInput(config, scratch, false));
    assert.match(err.message, /^store\.root: root must be a folder of its own.*file system root/);
  });

  test('a symlink to a system folder is refused as what it resolves to, also below it and when opened', async () => {
    const link = join(scratch, 'innocent-looking');
    await symlink('/etc', link);
    assert.match(localRootRefusal(link) ?? '', new RegExp(`/etc is a system folder \\(${link} resolves to /etc\\)`));
    assert.match(localRootRefusal(join(link, 'not-yet', 'created')) ?? '', /inside the system folder \/etc/);
    refusedAtOpen(link, /resolves to \/etc/);
    refusedAtOpen(join(link, 'mer'), /inside the system folder \/etc/);
    // The config path too: the schema sees an innocent path, the resolution does not.
    const corpus = join(scratch, 'MELD.Raw');
    await mkdir(corpus, { recursive: true });
    const { config } = buildRunConfig(undefined, { meld: corpus, store: link, until: 'acquire' });
    const err = configErrorOf(() => toPipelineInput(config, scratch, false));
    assert.match(err.message, /^store\.root: .*resolves to \/etc/);
  });

  test('the home folder itself is refused; a folder in it is fine', () => {
    const home = homedir();
    assert.ok(localRootRefusal(home), `${home} must be refused`);
    refusedAtOpen(home, /home folder|system folder/);
    refusedAtOpen(`${home}/sub/..`, /home folder|system folder/);
    assert.equal(localRootRefusal(join(home, 'mer-store-that-is-fine')), null);
  });

  test('opening a store on a system folder fails typed, even when the spec bypassed the config', () => {
    for (const root of ['/', '/etc', '/proc/self', '/usr/bin', '/dev/null'])
      refusedAtOpen(root, /system folder|file system root/);
    // Through the factory the payload's schema check answers first: still non-retryable.
    assert.throws(
      () => createStore({ kind: 'local', root: '/' }),
      (err: unknown) => {
        assert.ok(err instanceof MerError && err.type === ErrorTypes.ConfigInvalid, String(err));
        assert.match(err.message, /invalid store spec: root: root must be a folder of its own/);
        return true;
      },
    );
    // A good root opens.
    assert.ok(new LocalStore(join(scratch, 'fine')) instanceof LocalStore);
  });

  test('mer gc --store /etc refuses and touches nothing', async () => {
    const before = await readdir('/etc');
    const r = await runMer(['gc', '--store', '/etc', '--delete']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--store: .*\/etc is a system folder/);
    assert.deepEqual(await readdir('/etc'), before);
  });
});
