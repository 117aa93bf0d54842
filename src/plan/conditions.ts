// metav1.Condition lists: kstatus condition types Ready, Reconciling, Stalled.
import type { Condition } from "../api/types.ts";

export interface ConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
}

/**
 * `conditions` with `cond` set (added or replaced, others kept in order). Its
 * lastTransitionTime moves to `now` only when its status flips; otherwise the previous one
 * stays. Returns a new list; the input is not changed.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  cond: ConditionInput,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === cond.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: cond.type,
    status: cond.status,
    ...(cond.observedGeneration !== undefined ? { observedGeneration: cond.observedGeneration } : {}),
    lastTransitionTime:
      previous && previous.status === cond.status ? previous.lastTransitionTime : now.toISOString(),
    reason: cond.reason,
    message: cond.message,
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** The condition of `type`, if any. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
