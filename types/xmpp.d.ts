// Minimal typings for the parts of xmpp.js (0.13 CJS component, 0.14 ESM client) this project uses.
// xmpp.js ships no declarations; keep this surface small and add members only when used.

declare module "@xmpp/xml" {
  export type Attrs = Record<string, string | number | boolean | undefined | null>;
  export type Node = Element | string;

  export class Element {
    constructor(name: string, attrs?: Attrs);
    name: string;
    attrs: Record<string, string | undefined>;
    children: Node[];
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getNS(): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    getAttr(name: string): string | undefined;
    append(...nodes: Node[]): Element;
    cnode(child: Element): Element;
    c(name: string, attrs?: Attrs): Element;
    t(text: string): Element;
    up(): Element;
    remove(el: Element | string, xmlns?: string): Element;
    toString(): string;
  }

  type Child = Node | null | undefined | false | Child[];
  function xml(name: string, attrs?: Attrs | null, ...children: Child[]): Element;
  namespace xml {
    export { Element };
    export function escapeXML(s: string): string;
    export function escapeXMLText(s: string): string;
  }
  export default xml;
}

declare module "@xmpp/jid" {
  export class JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
    equals(other: JID): boolean;
    getLocal(): string;
    getDomain(): string;
    getResource(): string;
  }
  function jid(address: string): JID;
  namespace jid {
    export { JID };
  }
  export default jid;
}

declare module "@xmpp/component" {
  import type { Element } from "@xmpp/xml";
  import type xmlFn from "@xmpp/xml";
  import type { EventEmitter } from "node:events";

  export interface IncomingContext {
    stanza: Element;
    element: Element;
    from: { toString(): string; bare(): { toString(): string } };
    to: { toString(): string };
    id: string;
    type: string;
    name: string;
  }

  export type IqHandler = (
    ctx: IncomingContext,
  ) => Element | boolean | undefined | Promise<Element | boolean | undefined>;

  export interface IqCallee {
    get(ns: string, name: string, handler: IqHandler): void;
    set(ns: string, name: string, handler: IqHandler): void;
  }

  export interface IqCaller {
    request(stanza: Element, timeoutMs?: number): Promise<Element>;
  }

  export interface Middleware {
    use(fn: (ctx: IncomingContext, next: () => Promise<unknown>) => unknown): void;
    filter(fn: (ctx: { stanza: Element }, next: () => Promise<unknown>) => unknown): void;
  }

  export interface Reconnect extends EventEmitter {
    delay: number;
    stop(): void;
  }

  export interface Component extends EventEmitter {
    status: string;
    jid: { toString(): string } | null;
    iqCallee: IqCallee;
    iqCaller: IqCaller;
    middleware: Middleware;
    reconnect: Reconnect;
    /** The TCP socket while connected (a net.Socket for xmpp:// services). */
    socket: { setNoDelay?(noDelay?: boolean): unknown } | null;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(el: Element): Promise<void>;
    /** Lower-level steps of start(), used for our own reconnect loop. */
    connect(service: string): Promise<void>;
    open(options: { domain: string }): Promise<void>;
    disconnect(): Promise<void>;
  }

  export function component(options: { service: string; domain: string; password: string }): Component;
  export const xml: typeof xmlFn;
}

declare module "@xmpp/client" {
  import type { Element } from "@xmpp/xml";
  import type xmlFn from "@xmpp/xml";
  import type { EventEmitter } from "node:events";

  export interface Client extends EventEmitter {
    status: string;
    jid: { toString(): string; bare(): { toString(): string } } | null;
    iqCaller: {
      request(stanza: Element, timeoutMs?: number): Promise<Element>;
    };
    iqCallee: {
      get(ns: string, name: string, handler: (ctx: { stanza: Element; element: Element }) => unknown): void;
      set(ns: string, name: string, handler: (ctx: { stanza: Element; element: Element }) => unknown): void;
    };
    reconnect: { stop(): void };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(el: Element): Promise<void>;
  }

  export type Authenticate = (
    creds: { username: string; password: string },
    mechanism: string,
  ) => Promise<void>;

  export function client(options: {
    service: string;
    domain: string;
    resource?: string;
    username?: string;
    password?: string;
    credentials?: (
      authenticate: Authenticate,
      mechanisms: string[],
      fast: unknown,
      /** The connection: secure once STARTTLS or direct TLS succeeded (certificate validated). */
      entity: { isSecure(): boolean },
    ) => Promise<void>;
  }): Client;
  export const xml: typeof xmlFn;
}
