import type { SchedulingRules } from '../store/store.ts';
import { advance } from './advance.ts';
import { driftBetween, type Shape } from './shape.ts';

/**
 * The decisions the store applies inside a worker's turn but does not make (STYLE 17): what becomes
 * runnable or skipped, and how a response's shape drifted. Both are pure and tested without a store.
 */
export const SCHEDULING_RULES: SchedulingRules = {
  advance,
  drift: (previous, current) => driftBetween(JSON.parse(previous) as Shape, JSON.parse(current) as Shape),
};
