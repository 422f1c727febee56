// What a command is: a descriptor plus step functions. Steps never build stanzas; the router turns
// their results into XEP-0050 <command/> replies (Prosody's adhoc.lib shape).
import type { Element } from "@xmpp/xml";
import { renderTable, tableLines, type FormSpec, type FormValues, type TableSpec } from "./forms.js";

export type Access = "user" | "admin";

export interface CommandContext {
  /** Full JID of the requester, as stamped by the server. */
  requester: string;
  /** Requester's bare JID: the account the command acts on (or the admin running it). */
  user: string;
  host: string;
  isAdmin: boolean;
  lang?: string;
}

export interface Note {
  type: "info" | "warn" | "error";
  text: string;
}

export type StepAction = "next" | "complete";

/** Submission handler of a form stage. */
export type StepHandler = (values: FormValues, ctx: CommandContext) => Promise<StepResult>;

export type StepResult =
  | {
      status: "executing";
      form: FormSpec;
      notes?: Note[];
      /** What submitting this stage means to the client; "complete" makes it the last stage. */
      action?: StepAction;
      onSubmit: StepHandler;
    }
  | {
      status: "completed";
      notes?: Note[];
      /** Result forms/tables or other payloads (e.g. jabber:x:oob), in precedence order. */
      payloads?: Element[];
    };

export interface Command {
  node: string;
  name: string;
  access: Access;
  start(ctx: CommandContext): Promise<StepResult>;
}

export function completed(notes: Note[] | Note | string, payloads?: Element[]): StepResult {
  const list =
    typeof notes === "string"
      ? [{ type: "info" as const, text: notes }]
      : Array.isArray(notes)
        ? notes
        : [notes];
  return payloads ? { status: "completed", notes: list, payloads } : { status: "completed", notes: list };
}

export function failed(text: string): StepResult {
  return { status: "completed", notes: [{ type: "error", text }] };
}

/**
 * A result with a table: the table as a data form for clients that render one, and the same rows as
 * lines of the notes (headed by the table's title) for clients that show only notes.
 */
export function completedWithTable(notes: Note[] | string, table: TableSpec): StepResult {
  const list = typeof notes === "string" ? [{ type: "info" as const, text: notes }] : notes;
  const lines = tableLines(table);
  const text = lines.length > 0 ? `${table.title ?? "Details"}:\n${lines.join("\n")}` : "";
  return {
    status: "completed",
    notes: text ? [...list, { type: "info", text }] : list,
    payloads: [renderTable(table)],
  };
}

/** A command descriptor: what the router lists and runs (start is its first stage). */
export function command(node: string, name: string, access: Access, start: Command["start"]): Command {
  return { node, name, access, start };
}
