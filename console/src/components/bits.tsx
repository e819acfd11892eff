import { useState, type ReactNode } from 'react';

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge st-${status}`}>{status}</span>;
}

export function Time({ at }: { at?: string | null }) {
  if (!at) return <span className="muted">—</span>;
  const d = new Date(at);
  return <time dateTime={at} title={at}>{d.toLocaleString()}</time>;
}

export function Json({ value, label }: { value: unknown; label?: string }) {
  const text = value === undefined ? 'undefined' : JSON.stringify(value, null, 2);
  return <pre className="json" aria-label={label} tabIndex={0}>{text}</pre>;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      onClick={async () => {
        await navigator.clipboard.writeText(text);
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

/** A secret shown once, right after it was created, with the warning that it will not come back. */
export function SecretOnce({ secret, what }: { secret: string; what: string }) {
  return (
    <div className="secret" role="status">
      <p>
        The {what} — copy it now, it is not shown again:
      </p>
      <code data-testid="secret">{secret}</code> <CopyButton text={secret} />
    </div>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section>
      <div className="section-head">
        <h2>{title}</h2>
        {actions && <div className="actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

export function Duration({ from, to }: { from?: string | null; to?: string | null }) {
  if (!from || !to) return <span className="muted">—</span>;
  const ms = Date.parse(to) - Date.parse(from);
  return <span>{ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`}</span>;
}
