import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { mintApiKey } from './apiKeys.ts';
import { DEFAULT_WORKSPACE, newApiKeyId } from './ids.ts';
import { hashSecret } from './http/auth.ts';
import type { Store } from './store/store.ts';
import { canvasIdFor, loadDefinitionsFrom } from './workflows/load.ts';
import { validateDefinition } from './workflows/validate.ts';
import stringify from 'safe-stable-stringify';

const FIRST_START_KEY_ID = 'ak-first-start';

/**
 * First-start work: the default workspace, the bootstrap API key, and
 * workflows loaded from FLOWGATE_WORKFLOWS.
 */
export async function ensureBootstrapKey(store: Store, config: Config, now: number): Promise<string | undefined> {
  await store.catalog.ensureWorkspace(DEFAULT_WORKSPACE, now);
  if (config.apiKey) {
    const hash = hashSecret(config.apiKey);
    if (!(await store.catalog.findApiKeyByHash(hash))) {
      try {
        await store.catalog.createApiKey({
          id: newApiKeyId(),
          workspaceId: DEFAULT_WORKSPACE,
          name: 'FLOWGATE_API_KEY',
          prefix: config.apiKey.slice(0, 7),
          secretHash: hash,
          scopes: ['admin'],
          createdAt: now,
        });
      } catch (e) {
        // Processes starting together on one database race to create it; the unique hash lets one
        // win, and the others find its key.
        if (!(await store.catalog.findApiKeyByHash(hash))) throw e;
      }
    }
    return undefined;
  }
  if ((await store.catalog.countApiKeys()) > 0) return undefined;
  // One fixed id: of several processes starting on an empty database, exactly one creates (and
  // prints) the first key; the others hit the primary key and stay quiet.
  const { record, secret } = mintApiKey({ id: FIRST_START_KEY_ID, workspaceId: DEFAULT_WORKSPACE, name: 'first-start admin key', scopes: ['admin'], createdAt: now });
  try {
    await store.catalog.createApiKey(record);
  } catch (e) {
    if ((await store.catalog.countApiKeys()) > 0) return undefined;
    throw e;
  }
  return secret;
}

export interface LoadedWorkflow {
  canvasId: string;
  title: string;
  file: string;
  change: 'created' | 'updated' | 'unchanged';
}

/** Upserts every definition in a file or folder into `ws-default`; an invalid file stops the start. */
export async function loadWorkflows(store: Store, path: string, now: number, logger: Logger): Promise<LoadedWorkflow[]> {
  const loaded: LoadedWorkflow[] = [];
  for (const { file, definition } of await loadDefinitionsFrom(path)) {
    const v = validateDefinition(definition);
    if (!v.ok) {
      throw new Error(`${file}: ${v.error.message}${v.error.data ? ` ${JSON.stringify(v.error.data)}` : ''}`);
    }
    const canvasId = canvasIdFor(file, v.value);
    const def = { ...v.value, canvasId };
    const same = (w: { definition: unknown } | undefined) => w !== undefined && stringify(w.definition) === stringify(def);
    let current = await store.catalog.getWorkflow(DEFAULT_WORKSPACE, canvasId);
    let change: LoadedWorkflow['change'] = 'unchanged';
    if (!current) {
      if (await store.catalog.createWorkflow(DEFAULT_WORKSPACE, canvasId, def, now)) change = 'created';
      // Another process starting at the same moment may have created it first.
      else current = await store.catalog.getWorkflow(DEFAULT_WORKSPACE, canvasId);
      if (change !== 'created' && !current) {
        logger.warn({ canvasId, file }, 'workflow was deleted through the API; the file is not loaded again');
        continue;
      }
    }
    if (current && !same(current)) {
      try {
        await store.catalog.updateWorkflow(DEFAULT_WORKSPACE, canvasId, def, now);
        change = 'updated';
      } catch (e) {
        // Processes starting together with the same new file race to add the version; one adds it.
        if (!same(await store.catalog.getWorkflow(DEFAULT_WORKSPACE, canvasId))) throw e;
      }
    }
    logger.info({ canvasId, file, change }, 'workflow loaded');
    loaded.push({ canvasId, title: def.title, file, change });
  }
  return loaded;
}
