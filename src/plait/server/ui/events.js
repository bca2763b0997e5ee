// History events read by a person: the kind an event belongs to (for the filter) and a
// one-line summary of its attributes.

import {dur} from "./core.js";

export const KINDS = {
  workflow: "workflow",
  task: "workflow tasks",
  activity: "activities",
  timer: "timers",
  message: "signals and updates",
  child: "children and external",
  other: "markers and search attributes",
};

export function kindOf(type) {
  if (type.startsWith("WORKFLOW_TASK_")) return "task";
  if (type.startsWith("ACTIVITY_TASK_")) return "activity";
  if (type.startsWith("TIMER_")) return "timer";
  if (type === "WORKFLOW_EXECUTION_SIGNALED" || type.startsWith("WORKFLOW_EXECUTION_UPDATE_")) return "message";
  if (type.includes("CHILD_WORKFLOW") || type.includes("EXTERNAL_WORKFLOW")) return "child";
  if (type.startsWith("WORKFLOW_EXECUTION_")) return "workflow";
  return "other";
}

/** Activity id -> type, from the ACTIVITY_TASK_SCHEDULED events (the later events of an
 * activity name only its id). */
export function activityTypes(events) {
  const out = new Map();
  for (const e of events) {
    if (e.event_type === "ACTIVITY_TASK_SCHEDULED") out.set(e.attributes.activity_id, e.attributes.activity_type);
  }
  return out;
}

/** The few words that tell events of one type apart. */
export function eventSummary(e, types = new Map()) {
  const a = e.attributes || {};
  const parts = [];
  const type = a.activity_type || (a.activity_id !== undefined ? types.get(a.activity_id) : undefined);
  if (type) parts.push(type);
  if (a.activity_id !== undefined && a.activity_id !== null) parts.push(`#${a.activity_id}`);
  if (a.attempt > 1) parts.push(`attempt ${a.attempt}`);
  if (a.timer_id !== undefined && e.event_type === "TIMER_STARTED") parts.push(`timer ${a.timer_id} for ${dur(a.duration)}`);
  else if (a.timer_id !== undefined) parts.push(`timer ${a.timer_id}`);
  if (a.signal_name) parts.push(a.signal_name);
  if (a.update_name) parts.push(a.update_name);
  if (kindOf(e.event_type) === "child" && a.workflow_id) parts.push(a.workflow_id);
  if (a.marker_name) parts.push(a.marker_name);
  if (a.reason) parts.push(`reason: ${a.reason}`);
  if (a.failure && a.failure.message) parts.push(`${a.failure.type || "error"}: ${a.failure.message}`);
  if (e.event_type === "WORKFLOW_TASK_STARTED" && a.identity) parts.push(a.identity);
  return parts.join(" · ");
}
