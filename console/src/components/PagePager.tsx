/** Page-number paging, for the Refly-shaped lists that answer `{total, page, pageSize}`. */
export function PagePager({ page, pageSize, total, onChange }: { page: number; pageSize: number; total: number; onChange: (page: number) => void }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <div className="pager">
      <button type="button" disabled={page <= 1} onClick={() => onChange(page - 1)}>← Previous</button>
      <span className="muted">
        page {page} of {pages} ({total})
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onChange(page + 1)}>Next →</button>
    </div>
  );
}
