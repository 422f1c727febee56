// Streaming XEP-0227 reader: saxes events → typed records, never a DOM of the whole file.
// Sections under <user/> are built as small elements; the sections that can be huge (message archive,
// offline messages, PEP items) are emitted child by child. Hostile input is refused: any DOCTYPE
// (no entity expansion at all), undefined entities (saxes), over-deep nesting, oversize elements,
// non-UTF-8 bytes, a wrong root — each with line and column. Memory stays flat whatever the input:
// every text, tag and comment is measured before saxes buffers it (markup-guard.ts), built elements are
// bounded in characters and in element count, and accounts, contacts, groups and field lengths are
// limited with messages that say which limit was hit.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { SaxesParser, type SaxesTagNS } from "saxes";
import {
  NS_BLOCKING,
  NS_CLIENT,
  NS_PIE,
  NS_PIE_MAM,
  NS_PIE_SCRAM,
  NS_PRIVATE,
  NS_PUBSUB,
  NS_PUBSUB_OWNER,
  NS_ROSTER,
  NS_VCARD_TEMP,
} from "../xmpp/namespaces.js";
import { ArchiveFormatError, ArchiveLimitError, type ArchiveRecord } from "./records.js";
import { MarkupGuard } from "./markup-guard.js";
import {
  decodeArchiveResult,
  decodeBlocklist,
  decodePending,
  decodePepItems,
  decodePepOwner,
  decodePrivacy,
  decodeRoster,
  decodeScram,
} from "./sections.js";

/** ejabberd still reads the pre-1.0 namespace (docs/server-facts.md, "XEP-0227 files"). */
const NS_PIE_LEGACY = "http://www.xmpp.org/extensions/xep-0227.html#ns";
const NS_XINCLUDE = "http://www.w3.org/2001/XInclude";
const NS_PRIVACY = "jabber:iq:privacy";

export interface ReaderLimits {
  /** Deepest element nesting accepted. */
  maxDepth: number;
  /** Largest single built element (a section, or one archive/offline/PEP item), in characters. */
  maxElementChars: number;
  /** Most elements inside one built element (each costs far more memory than its characters). */
  maxElementNodes: number;
  /** Longest text run, tag (with its attributes) or comment, in characters, measured as it arrives. */
  maxTextChars: number;
  /** Accounts (<user/>) per archive. */
  maxUsers: number;
  /** Roster items per account. */
  maxContacts: number;
  /** Groups per roster item. */
  maxGroups: number;
  /** Longest user name, contact name or group name. */
  maxFieldChars: number;
}

export const DEFAULT_LIMITS: ReaderLimits = {
  maxDepth: 48,
  maxElementChars: 16 * 1024 * 1024,
  maxElementNodes: 50_000,
  maxTextChars: 2 * 1024 * 1024,
  maxUsers: 100,
  maxContacts: 5000,
  maxGroups: 100,
  maxFieldChars: 1024,
};
/** RFC 7622: localpart, domainpart and resourcepart are at most 1023 bytes each. */
const MAX_JID_CHARS = 3071;

type Input = AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>;

/** Streamed containers under <user/> whose children are emitted one by one. */
function streamedContainer(tag: SaxesTagNS): "archive" | "offline" | "pep-items" | null {
  if (tag.local === "archive" && tag.uri === NS_PIE_MAM) return "archive";
  if (tag.local === "offline-messages" && (tag.uri === NS_PIE || tag.uri === NS_PIE_LEGACY)) return "offline";
  if (tag.local === "pubsub" && tag.uri === NS_PUBSUB) return "pep-items";
  return null;
}

export async function* readArchive(
  input: Input,
  limits: Partial<ReaderLimits> = {},
): AsyncGenerator<ArchiveRecord> {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const parser = new SaxesParser({ xmlns: true, position: true });
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const queue: ArchiveRecord[] = [];
  const fail = (reason: string): never => {
    throw new ArchiveFormatError(reason, parser.line, parser.column + 1);
  };
  const overLimit = (reason: string): never => {
    throw new ArchiveLimitError(reason, parser.line, parser.column + 1);
  };
  const guard = new MarkupGuard(lim.maxTextChars);
  let users = 0;
  /** Roster items in the roster being built, groups in the item being built. */
  let contacts = 0;
  let groups = 0;

  // Structural state.
  let depth = 0;
  /** 1 when the root is a <host/> (ejabberd's per-host file), so structure is read one level down. */
  let offset = 0;
  let sawRoot = false;
  let host: string | null = null;
  let user: string | null = null;
  let container: ReturnType<typeof streamedContainer> = null;
  // Element under construction (depth of its root, stack of open elements, size so far).
  let buildRootDepth = 0;
  const stack: Element[] = [];
  const uris: string[] = [];
  let buildChars = 0;
  let buildNodes = 0;

  const grow = (n: number): void => {
    buildChars += n;
    if (buildChars > lim.maxElementChars) overLimit(`element larger than ${lim.maxElementChars} characters`);
  };

  parser.on("xmldecl", (decl) => {
    if (decl.encoding && decl.encoding.toLowerCase().replace(/[-_]/g, "") !== "utf8") {
      fail(`only UTF-8 archives are supported (declared ${decl.encoding})`);
    }
  });
  parser.on("doctype", () =>
    fail("DOCTYPE declarations are not allowed (they enable entity expansion attacks)"),
  );
  parser.on("error", (err) => fail(err.message.replace(/^[^:]*:\d+:\d+: /, "")));

  parser.on("opentag", (tag) => {
    depth++;
    if (depth > lim.maxDepth) fail(`elements nested deeper than ${lim.maxDepth} levels`);
    // ejabberd's export_piefxis writes one file per host with <host xmlns='urn:xmpp:pie:0'> as its root
    // (included from the main file by XInclude): read such a file as if it were wrapped in <server-data>.
    if (depth === 1 && tag.local === "host" && (tag.uri === NS_PIE || tag.uri === NS_PIE_LEGACY)) {
      offset = 1;
      sawRoot = true;
    }
    const level = depth + offset;
    if (stack.length > 0 || shouldBuild(tag, level)) {
      build(tag, level);
      return;
    }
    if (level === 1) {
      if (tag.local !== "server-data" || (tag.uri !== NS_PIE && tag.uri !== NS_PIE_LEGACY)) {
        fail(`root element must be <server-data xmlns='${NS_PIE}'> (found <${tag.name}> in '${tag.uri}')`);
      }
      sawRoot = true;
    } else if (level === 2) {
      host = attr(tag, "jid") ?? fail("<host/> without a jid attribute");
      queue.push({ kind: "host", jid: host });
    } else if (level === 3) {
      user = attr(tag, "name") ?? fail("<user/> without a name attribute");
      if (user.length > lim.maxFieldChars)
        overLimit(`a user name longer than ${lim.maxFieldChars} characters`);
      if (++users > lim.maxUsers) {
        overLimit(`the archive holds more than ${lim.maxUsers} accounts; export only the account to import`);
      }
      queue.push({
        kind: "user",
        host: host ?? "",
        name: user,
        hasPassword: attr(tag, "password") !== undefined,
      });
    } else if (level === 4) {
      container = streamedContainer(tag);
    }
  });

  function shouldBuild(tag: SaxesTagNS, level: number): boolean {
    if (level === 2) return tag.local !== "host";
    if (level === 3) return tag.local !== "user";
    if (level === 4) return streamedContainer(tag) === null;
    return level >= 5;
  }

  function build(tag: SaxesTagNS, level: number): void {
    const parentUri = uris[uris.length - 1];
    if (++buildNodes > lim.maxElementNodes) {
      overLimit(`a section with more than ${lim.maxElementNodes} elements`);
    }
    countRosterParts(tag);
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) {
      if (a.name === "xmlns" || a.name.startsWith("xmlns:")) continue;
      attrs[a.name] = a.value;
      if (a.prefix && a.prefix !== "xml") attrs[`xmlns:${a.prefix}`] = a.uri;
      grow(a.name.length + a.value.length + 4);
    }
    if (stack.length === 0 || tag.uri !== parentUri) attrs.xmlns = tag.uri;
    const el = xml(tag.local, attrs);
    grow(tag.name.length * 2 + 5);
    if (stack.length === 0) {
      buildRootDepth = level;
    } else {
      stack[stack.length - 1]?.append(el);
    }
    stack.push(el);
    uris.push(tag.uri);
  }

  /** Contacts and groups are counted while the roster is built, so a huge one is refused early. */
  function countRosterParts(tag: SaxesTagNS): void {
    const root = stack[0];
    if (!root || root.name !== "query" || root.attrs.xmlns !== NS_ROSTER) {
      if (stack.length === 0 && tag.local === "query" && tag.uri === NS_ROSTER) contacts = 0;
      return;
    }
    if (stack.length === 1 && tag.local === "item") {
      groups = 0;
      if (++contacts > lim.maxContacts) {
        overLimit(`the account has more than ${lim.maxContacts} contacts, more than can be imported`);
      }
    } else if (stack.length === 2 && tag.local === "group" && ++groups > lim.maxGroups) {
      overLimit(`a contact is in more than ${lim.maxGroups} groups`);
    }
  }

  parser.on("text", (text) => {
    if (stack.length === 0) return; // whitespace between sections
    grow(text.length);
    stack[stack.length - 1]?.append(text);
  });
  parser.on("cdata", (text) => {
    if (stack.length === 0) return;
    grow(text.length);
    stack[stack.length - 1]?.append(text);
  });

  parser.on("closetag", () => {
    const level = depth + offset;
    if (stack.length > 0) {
      const el = stack.pop() as Element;
      uris.pop();
      if (stack.length === 0) {
        buildChars = 0;
        buildNodes = 0;
        emitBuilt(el, buildRootDepth);
      }
    } else if (level === 4) {
      container = null;
    } else if (level === 3 && user !== null) {
      queue.push({ kind: "user-end", host: host ?? "", name: user });
      user = null;
    } else if (level === 2 && host !== null) {
      queue.push({ kind: "host-end", jid: host });
      host = null;
    }
    depth--;
  });

  function emitBuilt(el: Element, at: number): void {
    if (el.name === "include" && el.attrs.xmlns === NS_XINCLUDE) {
      // XInclude is not followed (an upload is one file); summaries tell the user which file to send.
      queue.push({ kind: "unknown", element: el, where: "xinclude" });
      return;
    }
    const ns = el.attrs.xmlns ?? "";
    if (at === 5 && container) {
      const rec =
        container === "archive" && el.name === "result"
          ? decodeArchiveResult(el)
          : container === "offline" && el.name === "message"
            ? ({ kind: "offline", message: el } as const)
            : container === "pep-items" && el.name === "items"
              ? decodePepItems(el)
              : null;
      queue.push(rec ?? { kind: "unknown", element: el, where: container });
      return;
    }
    if (at !== 4) {
      queue.push({
        kind: "unknown",
        element: el,
        where: at === 2 ? "server-data" : at === 3 ? "host" : "user",
      });
      return;
    }
    const key = `${el.name} ${ns}`;
    switch (key) {
      case `query ${NS_ROSTER}`: {
        const rec = decodeRoster(el);
        if (rec.kind === "roster") checkRosterFields(rec.items);
        queue.push(rec);
        return;
      }
      case `presence ${NS_CLIENT}`:
      case `presence ${NS_PIE}`:
      case `presence ${NS_PIE_LEGACY}`: {
        // Prosody writes pending presences without xmlns (so in the pie namespace): accept both.
        const rec = decodePending(el);
        queue.push(rec ?? { kind: "unknown", element: el, where: "user" });
        return;
      }
      case `vCard ${NS_VCARD_TEMP}`:
        queue.push({ kind: "vcard", vcard: el });
        return;
      case `query ${NS_PRIVATE}`:
        queue.push({ kind: "private", payloads: el.getChildElements() });
        return;
      case `query ${NS_PRIVACY}`:
        queue.push(...decodePrivacy(el));
        return;
      case `pubsub ${NS_PUBSUB_OWNER}`:
        queue.push(...decodePepOwner(el));
        return;
      case `scram-credentials ${NS_PIE_SCRAM}`: {
        const rec = decodeScram(el);
        queue.push(rec ?? { kind: "unknown", element: el, where: "user" });
        return;
      }
      case `blocklist ${NS_BLOCKING}`:
        queue.push(decodeBlocklist(el));
        return;
      case `include ${NS_XINCLUDE}`:
        queue.push({ kind: "unknown", element: el, where: "xinclude" });
        return;
      default:
        queue.push({ kind: "unknown", element: el, where: "user" });
    }
  }

  function checkRosterFields(items: { jid: string; name?: string; groups: string[] }[]): void {
    for (const i of items) {
      const who = i.jid.length > 80 ? `${i.jid.slice(0, 80)}…` : i.jid;
      if (i.jid.length > MAX_JID_CHARS)
        overLimit(`a contact address longer than ${MAX_JID_CHARS} characters`);
      if ((i.name?.length ?? 0) > lim.maxFieldChars) {
        overLimit(`the name of contact ${who} is longer than ${lim.maxFieldChars} characters`);
      }
      if (i.groups.some((g) => g.length > lim.maxFieldChars)) {
        overLimit(`a group name of contact ${who} is longer than ${lim.maxFieldChars} characters`);
      }
    }
  }

  /** Feeds one decoded chunk to saxes, stopping where the guard finds a construct over the limit. */
  function feed(text: string): void {
    const v = guard.scan(text);
    if (!v) return void parser.write(text);
    parser.write(text.slice(0, v.at));
    if (/DOCTYPE/.test(v.reason)) fail(v.reason);
    overLimit(v.reason);
  }

  for await (const chunk of input) {
    let text: string;
    if (typeof chunk === "string") {
      text = chunk;
    } else {
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch {
        fail("the file is not valid UTF-8");
      }
      text = text!;
    }
    feed(text);
    for (let i = 0; i < queue.length; i++) yield queue[i] as ArchiveRecord;
    queue.length = 0;
  }
  let rest = "";
  try {
    rest = decoder.decode();
  } catch {
    fail("the file is not valid UTF-8");
  }
  if (rest) feed(rest);
  if (!sawRoot) fail("the file is empty or has no root element");
  if (depth > 0) fail("the file is truncated (elements are not closed)");
  parser.close();
  for (const r of queue) yield r;
}

function attr(tag: SaxesTagNS, name: string): string | undefined {
  const a = tag.attributes[name];
  return a && !a.prefix ? a.value : undefined;
}
