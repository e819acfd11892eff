/**
 * Cursor pages (docs/api.md: `nextCursor` back as `cursor`): the stack of cursors that led here is
 * kept so "Newer" goes back without OFFSET scans on the server.
 */
export function CursorPager({ stack, next, onChange }: { stack: string[]; next: string | null | undefined; onChange: (stack: string[]) => void }) {
  return (
    <div className="pager">
      <button type="button" disabled={stack.length === 0} onClick={() => onChange(stack.slice(0, -1))}>
        ← Newer
      </button>
      <span className="muted">page {stack.length + 1}</span>
      <button type="button" disabled={!next} onClick={() => next && onChange([...stack, next])}>
        Older →
      </button>
    </div>
  );
}
