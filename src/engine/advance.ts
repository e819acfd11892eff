import { TERMINAL_NODE, type Advance, type AdvanceNode } from '../store/store.ts';

/** Up to this many nodes, a dependency is found by scanning them. */
const SCAN_MAX = 16;

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

  // Copies: the passes below mark nodes, and the caller's stay as they were. Every accept of an
  // expression-only run and every settle advances, mostly over a few nodes, so dependencies are
  // found by a scan there and through a map only in a large workflow.
  const state = nodes.map((n) => ({ ...n }));
  const index = state.length > SCAN_MAX ? new Map(state.map((n) => [n.nodeId, n])) : undefined;
  const find = (id: string) => (index ? index.get(id) : state.find((n) => n.nodeId === id));

  // Skips cascade, so repeat until nothing changes; each pass settles at least one node or stops.
  let changed = true;
  while (changed) {
    changed = false;
    for (const n of state) {
      if (n.status !== 'init' || n.runnable) continue;
      let ready = true;
      let deps = 0;
      let dead = 0;
      for (const id of n.deps) {
        const d = find(id);
        if (!d) continue;
        deps++;
        if (!TERMINAL_NODE.has(d.status)) {
          ready = false;
          break;
        }
        if (isDead(d)) dead++;
      }
      if (!ready) continue;
      const skip = n.kind === 'output' ? deps > 0 && dead === deps : dead > 0;
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

  if (state.every((n) => TERMINAL_NODE.has(n.status))) result.outcome = { status: 'finish' };
  return result;
}
