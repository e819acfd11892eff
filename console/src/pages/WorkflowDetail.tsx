import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { stringify as toYaml } from 'yaml';
import { Link, useParams } from 'react-router';
import { api, enc } from '../api.ts';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { RunForm } from '../components/RunForm.tsx';
import { WebhookPanel } from '../components/WebhookPanel.tsx';
import { Json, Section, Time } from '../components/bits.tsx';
import { useCan } from '../session.tsx';
import type { JsonSchema, WorkflowRecord } from '../types.ts';

export function WorkflowDetail() {
  const { canvasId = '' } = useParams();
  const canRun = useCan('run');
  const isAdmin = useCan('admin');
  const [version, setVersion] = useState<number | undefined>();
  const [showOpenApi, setShowOpenApi] = useState(false);
  const [format, setFormat] = useState<'json' | 'yaml'>('json');
  const w = useQuery({ queryKey: ['workflow', canvasId], queryFn: () => api.get<WorkflowRecord>(`/v1/workflows/${enc(canvasId)}`) });
  const shown = version ?? w.data?.version;
  const def = useQuery({
    queryKey: ['workflow-version', canvasId, shown],
    queryFn: () => api.get<{ definition: unknown }>(`/v1/workflows/${enc(canvasId)}/versions/${shown}`),
    enabled: shown !== undefined && shown !== w.data?.version,
  });
  const schema = useQuery({ queryKey: ['schema', canvasId, w.data?.version], queryFn: () => api.get<JsonSchema>(`/v1/openapi/workflows/${enc(canvasId)}/schema`), enabled: !!w.data });
  const openapi = useQuery({
    queryKey: ['workflow-openapi', canvasId, w.data?.version],
    queryFn: () => api.get<unknown>(`/v1/openapi/workflows/${enc(canvasId)}/openapi.json`),
    enabled: showOpenApi,
  });

  if (w.error) return <ErrorBox error={w.error} />;
  if (!w.data) return <p className="loading">Loading {canvasId}…</p>;
  const wf = w.data;
  const definition = shown === wf.version ? wf.definition : def.data?.definition;
  return (
    <>
      <h1>
        {wf.title} <code className="muted">{wf.canvasId}</code>
      </h1>
      {wf.description && <p>{wf.description}</p>}
      <p>
        Version {wf.version}, updated <Time at={wf.updatedAt} /> · <Link to={`/?canvasId=${enc(wf.canvasId)}`}>its runs</Link> ·{' '}
        <Link to={`/failed?canvasId=${enc(wf.canvasId)}`}>its failed runs</Link>
      </p>
      <div className="two-col">
        {canRun && (
          <Section title="Run">
            <ErrorBox error={schema.error} />
            {schema.data && <RunForm key={wf.version} canvasId={wf.canvasId} schema={schema.data} />}
          </Section>
        )}
        <Section
          title="Definition"
          actions={
            <>
            <label>
              Format{' '}
              <select value={format} onChange={(e) => setFormat(e.target.value as 'json' | 'yaml')} aria-label="Definition format">
                <option value="json">JSON</option>
                <option value="yaml">YAML</option>
              </select>
            </label>
            <label>
              Version{' '}
              <select value={shown} onChange={(e) => setVersion(Number(e.target.value))} aria-label="Definition version">
                {Array.from({ length: wf.version }, (_, i) => wf.version - i).map((v) => (
                  <option key={v} value={v}>
                    v{v}
                    {v === wf.version ? ' (current)' : ''}
                  </option>
                ))}
              </select>
            </label>
            </>
          }
        >
          <ErrorBox error={def.error} />
          {definition === undefined ? (
            <p className="loading">Loading…</p>
          ) : format === 'yaml' ? (
            <pre className="json" aria-label="Definition" tabIndex={0}>{toYaml(definition)}</pre>
          ) : (
            <Json value={definition} label="Definition" />
          )}
        </Section>
      </div>
      <Section
        title="Run endpoint (OpenAPI)"
        actions={
          <button type="button" aria-expanded={showOpenApi} onClick={() => setShowOpenApi(!showOpenApi)}>
            {showOpenApi ? 'Hide' : 'Show'}
          </button>
        }
      >
        <p className="muted">
          <code>POST /v1/openapi/workflow/{wf.canvasId}/run</code> with <code>{'{"variables": {…}}'}</code>; the document below is also at{' '}
          <code>/v1/openapi/workflows/{wf.canvasId}/openapi.json</code>.
        </p>
        <ErrorBox error={openapi.error} />
        {showOpenApi && openapi.data !== undefined && <Json value={openapi.data} label="OpenAPI document" />}
      </Section>
      {isAdmin && <WebhookPanel canvasId={wf.canvasId} />}
    </>
  );
}
