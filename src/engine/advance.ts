import { TERMINAL_NODE, type Advance, type AdvanceNode } from '../store/store.ts';

/**
 * Decides what becomes runnable or skipped after a node ends. The worker hands it to the store's
 * `settleAndClaim`, which applies its answer inside the same transaction as the completion, so a
 * crash can never leave a finished node whose successors were not released.
 *
 * Skip rule: a false `condition` or a `skipped` node is a dead branch. A node with any dead
 * dependency is skipped, except `output` nodes, which collect results and are skipped only when
 * every dependency is dead (so an if/else can join into one result).
 */
const isDead = (n: AdvanceNode): boolean =>
  n.status === 'skipped' || (n.kind === 'condition' && n.status === 'finish' && n.output !== true);

export function advance(nodes: AdvanceNode[]): Advance {
  const byId = new Map(nodes.map((n) => [n.nodeId, { ...n }]));
  const result: Advance = { runnable: [], skipped: [] };

  const failed = nodes.find((n) => n.status === 'failed');
  if (failed) {
    result.outcome = {
      status: 'failed',
      errCode: failed.errCode ?? 'UPSTREAM_ERROR',
      errMsg: `Task "${failed.nodeId}" failed: ${failed.errMsg ?? 'unknown error'}`,
    };
    return result;
  }

  // Skips cascade, so repeat until nothing changes; each pass settles at least one node or stops.
  let changed = true;
  while (changed) {
    changed = false;
    for (const n of byId.values()) {
      if (n.status !== 'init' || n.runnable) continue;
      const deps = n.deps.map((d) => byId.get(d)!).filter(Boolean);
      if (!deps.every((d) => TERMINAL_NODE.has(d.status))) continue;
      const dead = deps.filter(isDead).length;
      const skip = n.kind === 'output' ? deps.length > 0 && dead === deps.length : dead > 0;
      if (skip) {
        n.status = 'skipped';
        result.skipped.push(n.nodeId);
      } else {
        n.runnable = true;
        result.runnable.push(n.nodeId);
      }
      changed = true;
    }
  }

  if ([...byId.values()].every((n) => TERMINAL_NODE.has(n.status))) result.outcome = { status: 'finish' };
  return result;
}
