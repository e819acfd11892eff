import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { api, enc } from '../api.ts';
import type { JsonSchema } from '../types.ts';
import { ErrorBox } from './ErrorBox.tsx';

type Field = { name: string; schema: JsonSchema; required: boolean };

/** What a form field's text means for each variable type (the server validates it again). */
function parseField(f: Field, raw: string | boolean): { value?: unknown; error?: string } {
  const kind = f.schema['x-variableType'] ?? (typeof f.schema.type === 'string' ? f.schema.type : 'json');
  if (kind === 'boolean') return { value: raw === true };
  const text = String(raw);
  if (text === '') return {};
  if (kind === 'number') {
    const n = Number(text);
    return Number.isFinite(n) ? { value: n } : { error: 'must be a number' };
  }
  if (kind === 'json') {
    try {
      return { value: JSON.parse(text) };
    } catch {
      return { error: 'must be JSON' };
    }
  }
  if (kind === 'resource') {
    const keys = text.split(/[\s,]+/).filter(Boolean);
    return { value: keys.length === 1 ? keys[0] : keys };
  }
  return { value: text };
}

const initial = (f: Field): string | boolean => {
  const d = f.schema.default;
  if (f.schema['x-variableType'] === 'boolean') return d === true;
  if (d === undefined) return '';
  return typeof d === 'string' ? d : JSON.stringify(d);
};

/** A run form generated from the workflow's variables schema (GET …/workflows/{canvasId}/schema). */
export function RunForm({ canvasId, schema }: { canvasId: string; schema: JsonSchema }) {
  const fields: Field[] = Object.entries(schema.properties ?? {}).map(([name, s]) => ({ name, schema: s, required: (schema.required ?? []).includes(name) }));
  const [values, setValues] = useState<Record<string, string | boolean>>(() => Object.fromEntries(fields.map((f) => [f.name, initial(f)])));
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const navigate = useNavigate();
  const run = useMutation({
    mutationFn: (variables: Record<string, unknown>) =>
      api.post<{ executionId: string }>(`/v1/openapi/workflow/${enc(canvasId)}/run`, { variables }, { 'idempotency-key': crypto.randomUUID() }),
    onSuccess: (r) => navigate(`/runs/${enc(r.executionId)}`),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const variables: Record<string, unknown> = {};
    const errs: Record<string, string> = {};
    for (const f of fields) {
      const r = parseField(f, values[f.name] ?? '');
      if (r.error) errs[f.name] = r.error;
      else if (r.value !== undefined) variables[f.name] = r.value;
      else if (f.required) errs[f.name] = 'is required';
    }
    setFieldErrors(errs);
    if (Object.keys(errs).length === 0) run.mutate(variables);
  };
  const set = (name: string, v: string | boolean) => setValues((old) => ({ ...old, [name]: v }));
  return (
    <form className="run-form" onSubmit={submit} aria-label="Run form">
      {fields.length === 0 && <p className="muted">This workflow takes no variables.</p>}
      {fields.map((f) => {
        const id = `var-${f.name}`;
        const kind = f.schema['x-variableType'] ?? f.schema.type;
        return (
          <div className="field" key={f.name}>
            <label htmlFor={id}>
              {f.name}
              {f.required && <span aria-label="required"> *</span>} <span className="muted">{String(kind ?? 'json')}</span>
            </label>
            {kind === 'boolean' ? (
              <input id={id} type="checkbox" checked={values[f.name] === true} onChange={(e) => set(f.name, e.target.checked)} />
            ) : f.schema.enum ? (
              <select id={id} value={String(values[f.name] ?? '')} onChange={(e) => set(f.name, e.target.value)}>
                <option value="">—</option>
                {f.schema.enum.map((o) => <option key={String(o)}>{String(o)}</option>)}
              </select>
            ) : kind === 'json' ? (
              <textarea id={id} rows={3} value={String(values[f.name] ?? '')} onChange={(e) => set(f.name, e.target.value)} placeholder="JSON" />
            ) : (
              <input
                id={id}
                type={kind === 'number' ? 'number' : 'text'}
                step="any"
                value={String(values[f.name] ?? '')}
                onChange={(e) => set(f.name, e.target.value)}
                placeholder={kind === 'resource' ? 'fk-… (from an upload; several separated by commas)' : undefined}
              />
            )}
            {f.schema.description && <small className="muted">{f.schema.description}</small>}
            {fieldErrors[f.name] && <small className="error" role="alert">{f.name} {fieldErrors[f.name]}</small>}
          </div>
        );
      })}
      <button type="submit" disabled={run.isPending}>Run</button>
      <ErrorBox error={run.error} />
    </form>
  );
}
