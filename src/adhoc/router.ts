// XEP-0050 execution: access control, sessions, stage navigation and error conditions (§4.6 table).
// Client quirks (docs/server-facts.md, "Ad-hoc commands"): profanity submits later stages with action='execute', so execute with a
// sessionid means "the default action of this stage".
import { bareOf, domainOf } from "../xmpp/jid.js";
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { Logger } from "../log/logger.js";
import { NS_COMMANDS } from "../xmpp/namespaces.js";
import { stanzaError } from "../xmpp/stanza-error.js";
import type { Command, CommandContext, Note, StepResult } from "./command.js";
import { FormError, FormValues, missingRequired, renderForm } from "./forms.js";
import { SessionStore } from "./sessions.js";
import { QuotaExceeded } from "../storage/quotas.js";

type Executing = Extract<StepResult, { status: "executing" }>;

interface SessionState {
  stages: Executing[];
}

export interface RouterOptions {
  commands: Command[];
  /** Domains whose users may run user commands. */
  hosts: string[];
  /** Bare JIDs allowed to run admin commands. */
  admins: string[];
  sessionTtlMs: number;
  log: Logger;
  now?: () => number;
}

/** An error whose message is meant for the person running the command (no internals, no secrets). */
export class CommandFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandFailure";
  }
}

const ACTIONS = new Set(["execute", "next", "prev", "complete", "cancel"]);

export interface CommandRouter {
  /** Commands visible to this requester (full JID). */
  visible(requester: string): Command[];
  find(node: string): Command | undefined;
  mayRun(requester: string, cmd: Command): boolean;
  /** Handles an <iq type='set'><command/></iq>; returns the <command/> reply or an <error/>. */
  handle(iq: Element): Promise<Element>;
}

export function createCommandRouter(o: RouterOptions): CommandRouter {
  const byNode = new Map(o.commands.map((c) => [c.node, c]));
  const hosts = new Set(o.hosts.map((h) => h.toLowerCase()));
  const admins = new Set(o.admins.map((a) => a.toLowerCase()));
  const sessions = new SessionStore<SessionState>({
    ttlMs: o.sessionTtlMs,
    ...(o.now ? { now: o.now } : {}),
  });

  const isLocalUser = (jid: string): boolean => bareOf(jid).includes("@") && hosts.has(domainOf(jid));
  const mayRun = (requester: string, cmd: Command): boolean =>
    isLocalUser(requester) && (cmd.access === "user" || admins.has(bareOf(requester)));

  function contextFor(iq: Element): CommandContext {
    const requester = iq.attrs.from ?? "";
    const lang = iq.attrs["xml:lang"];
    return {
      requester,
      user: bareOf(requester),
      host: domainOf(requester),
      isAdmin: admins.has(bareOf(requester)),
      ...(lang ? { lang } : {}),
    };
  }

  function reply(node: string, sessionid: string, result: StepResult): Element {
    const el = xml("command", { xmlns: NS_COMMANDS, node, sessionid, status: result.status });
    if (result.status === "executing") {
      const action = result.action ?? "complete";
      el.append(xml("actions", { execute: action }, xml(action)));
    }
    const merged = mergeNotes(result.notes ?? []);
    if (merged) el.append(note(merged));
    if (result.status === "executing") el.append(renderForm(result.form));
    else for (const p of result.payloads ?? []) el.append(p);
    return el;
  }

  function withPrev(el: Element): Element {
    el.getChild("actions")?.append(xml("prev"));
    return el;
  }

  async function runStep(
    step: () => Promise<StepResult>,
    node: string,
    sessionid: string,
    state: SessionState,
  ): Promise<Element> {
    let result: StepResult;
    try {
      result = await step();
    } catch (err) {
      if (err instanceof FormError) {
        return commandError("modify", "bad-request", "bad-payload", err.message);
      }
      sessions.end(sessionid);
      if (err instanceof CommandFailure || err instanceof QuotaExceeded) {
        return reply(node, sessionid, { status: "completed", notes: [{ type: "error", text: err.message }] });
      }
      o.log.error({ err, node }, "command step failed");
      return reply(node, sessionid, {
        status: "completed",
        notes: [
          {
            type: "error",
            text: "The command failed on the server; the operator can find details in the log.",
          },
        ],
      });
    }
    if (result.status === "executing") {
      state.stages.push(result);
      sessions.update(sessionid, state);
    } else {
      sessions.end(sessionid);
    }
    const el = reply(node, sessionid, result);
    return result.status === "executing" && state.stages.length > 1 ? withPrev(el) : el;
  }

  return {
    visible: (requester) => o.commands.filter((c) => mayRun(requester, c)),
    find: (node) => byNode.get(node),
    mayRun,
    async handle(iq) {
      const cmdEl = iq.getChild("command", NS_COMMANDS);
      const node = cmdEl?.attrs.node ?? "";
      const cmd = byNode.get(node);
      if (!cmdEl || !cmd) return stanzaError("cancel", "item-not-found");
      const ctx = contextFor(iq);
      if (!mayRun(ctx.requester, cmd)) {
        return stanzaError("cancel", "forbidden", "This command is only available to users of this server.");
      }
      const action = cmdEl.attrs.action ?? "execute";
      if (!ACTIONS.has(action)) return commandError("modify", "bad-request", "malformed-action");
      const sessionid = cmdEl.attrs.sessionid;

      if (!sessionid) {
        if (action !== "execute") return commandError("modify", "bad-request", "bad-sessionid");
        const state: SessionState = { stages: [] };
        const id = sessions.create(ctx.requester, node, state);
        return runStep(() => cmd.start(ctx), node, id, state);
      }

      const found = sessions.get(sessionid, ctx.requester, node);
      if (!found.ok) {
        return found.reason === "session-expired"
          ? commandError("cancel", "not-allowed", "session-expired")
          : commandError("modify", "bad-request", "bad-sessionid");
      }
      const state = found.state;
      if (action === "cancel") {
        sessions.end(sessionid);
        return xml("command", { xmlns: NS_COMMANDS, node, sessionid, status: "canceled" });
      }
      const current = state.stages[state.stages.length - 1];
      if (!current) return commandError("modify", "bad-request", "bad-action");
      if (action === "prev") {
        if (state.stages.length < 2) return commandError("modify", "bad-request", "bad-action");
        state.stages.pop();
        const back = state.stages[state.stages.length - 1] as Executing;
        sessions.update(sessionid, state);
        const el = reply(node, sessionid, back);
        return state.stages.length > 1 ? withPrev(el) : el;
      }
      const x = cmdEl.getChild("x", "jabber:x:data");
      if (x?.attrs.type === "cancel") {
        sessions.end(sessionid);
        return xml("command", { xmlns: NS_COMMANDS, node, sessionid, status: "canceled" });
      }
      const values = FormValues.parse(x);
      const missing = missingRequired(current.form, values);
      if (missing.length > 0) {
        return commandError("modify", "bad-request", "bad-payload", `Please fill in: ${missing.join(", ")}`);
      }
      return runStep(() => current.onSubmit(values, ctx), node, sessionid, state);
    },
  };
}

const SEVERITY: Note["type"][] = ["info", "warn", "error"];

/**
 * One note with every line: some clients (profanity) show only the first <note/>. Its type is the
 * most severe of the parts.
 */
export function mergeNotes(notes: Note[]): Note | null {
  if (notes.length === 0) return null;
  const type = notes.reduce<Note["type"]>(
    (t, n) => (SEVERITY.indexOf(n.type) > SEVERITY.indexOf(t) ? n.type : t),
    "info",
  );
  return { type, text: notes.map((n) => n.text).join("\n") };
}

function note(n: Note): Element {
  return xml("note", { type: n.type }, n.text);
}

function commandError(
  type: "modify" | "cancel",
  condition: string,
  specific: string,
  text?: string,
): Element {
  return stanzaError(type, condition, text, xml(specific, { xmlns: NS_COMMANDS }));
}
