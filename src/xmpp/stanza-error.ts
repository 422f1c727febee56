// Stanza errors (RFC 6120 §8.3) as values: build them for replies, read them from replies.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { NS_STANZAS } from "./namespaces.js";

export type ErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

export class XmppStanzaError extends Error {
  constructor(
    readonly condition: string,
    readonly type: string,
    readonly text?: string,
    readonly element?: Element,
  ) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = "XmppStanzaError";
  }

  static fromStanza(stanza: Element): XmppStanzaError {
    const error = stanza.getChild("error");
    if (!error) return new XmppStanzaError("undefined-condition", "cancel", undefined, stanza);
    const cond = error.getChildElements().find((c) => c.getNS() === NS_STANZAS && c.name !== "text");
    const text = error.getChildText("text", NS_STANZAS) ?? undefined;
    return new XmppStanzaError(
      cond?.name ?? "undefined-condition",
      error.attrs.type ?? "cancel",
      text,
      error,
    );
  }
}

/** `<error type><condition/><text/>[app]</error>` for an IQ/message reply. */
export function stanzaError(type: ErrorType, condition: string, text?: string, app?: Element): Element {
  return xml(
    "error",
    { type },
    xml(condition, { xmlns: NS_STANZAS }),
    text ? xml("text", { xmlns: NS_STANZAS }, text) : null,
    app ?? null,
  );
}

/** Normalises what xmpp.js's iqCaller rejects with (StanzaError or timeout) into XmppStanzaError or rethrows. */
export function asStanzaError(err: unknown): XmppStanzaError | null {
  if (err instanceof XmppStanzaError) return err;
  if (err instanceof Error && err.name === "StanzaError") {
    const e = err as Error & { condition?: string; type?: string; text?: string; element?: Element };
    return new XmppStanzaError(
      e.condition ?? "undefined-condition",
      e.type ?? "cancel",
      e.text || undefined,
      e.element,
    );
  }
  if (err instanceof Error && err.name === "TimeoutError") {
    return new XmppStanzaError("remote-server-timeout", "wait", "no reply in time");
  }
  return null;
}
