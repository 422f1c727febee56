// PEP (XEP-0163) on an account session: list nodes, read config, items and affiliations, publish with
// publish-options. Prosody quirks (docs/server-facts.md, "PEP"): access models only
// open/presence/whitelist, max_items capped at 256, items returned newest first.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { cloneElement } from "../xmpp/xml-util.js";
import type { AccountSession } from "./session.js";
import { NS_DATA, NS_DISCO_ITEMS, NS_PUBSUB, NS_PUBSUB_OWNER } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import type { NodeConfig, PepAffiliation, PepItem, PepNode } from "./model.js";

export const NODE_CONFIG_FORM = "http://jabber.org/protocol/pubsub#node_config";
export const PUBLISH_OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";
const PROSODY_MAX_ITEMS = 256;
const SUPPORTED_ACCESS = new Set(["open", "presence", "whitelist"]);

export function parseForm(x: Element | undefined): NodeConfig {
  const map: NodeConfig = new Map();
  for (const f of x?.getChildren("field") ?? []) {
    const name = f.attrs.var;
    if (!name || name === "FORM_TYPE") continue;
    const values = f.getChildren("value").map((v) => v.getText());
    // Prosody lists every field, empty ones too (docs/server-facts.md, "PEP"): empty means "default".
    if (values.length === 0 || (values.length === 1 && values[0] === "")) continue;
    map.set(name, values);
  }
  return map;
}

export function renderSubmitForm(formType: string, config: NodeConfig): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type: "submit" },
    xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, formType)),
    [...config].map(([k, vs]) =>
      xml(
        "field",
        { var: k },
        vs.map((v) => xml("value", {}, v)),
      ),
    ),
  );
}

/** Maps a config onto what Prosody's PEP accepts; returns warnings for what changed. */
export function adaptConfigForProsody(
  config: NodeConfig,
  node: string,
): { config: NodeConfig; warnings: string[] } {
  const out: NodeConfig = new Map(config);
  const warnings: string[] = [];
  const access = out.get("pubsub#access_model")?.[0];
  if (access && !SUPPORTED_ACCESS.has(access)) {
    const mapped = access === "roster" ? "presence" : "whitelist";
    out.set("pubsub#access_model", [mapped]);
    warnings.push(`${node}: access model ${access} is not supported here; using ${mapped}`);
  }
  const max = out.get("pubsub#max_items")?.[0];
  if (max !== undefined && (max === "max" || Number(max) > PROSODY_MAX_ITEMS)) {
    out.set("pubsub#max_items", [max === "max" ? "max" : String(PROSODY_MAX_ITEMS)]);
  }
  // Only options a publish-options precondition can sensibly carry.
  const keep = new Set([
    "pubsub#access_model",
    "pubsub#max_items",
    "pubsub#persist_items",
    "pubsub#send_last_published_item",
    "pubsub#notify_delete",
    "pubsub#notify_retract",
  ]);
  for (const k of [...out.keys()]) if (!keep.has(k)) out.delete(k);
  return { config: out, warnings };
}

export async function listNodes(s: AccountSession): Promise<string[]> {
  const res = await s.iq("get", xml("query", { xmlns: NS_DISCO_ITEMS }), { to: s.jid });
  const items = res.getChild("query", NS_DISCO_ITEMS)?.getChildren("item") ?? [];
  return items.map((i) => i.attrs.node).filter((n): n is string => typeof n === "string" && n.length > 0);
}

export async function getNodeConfig(s: AccountSession, node: string): Promise<NodeConfig> {
  const res = await s.iq("get", xml("pubsub", { xmlns: NS_PUBSUB_OWNER }, xml("configure", { node })), {
    to: s.jid,
  });
  return parseForm(res.getChild("pubsub", NS_PUBSUB_OWNER)?.getChild("configure")?.getChild("x", NS_DATA));
}

export async function getAffiliations(s: AccountSession, node: string): Promise<PepAffiliation[]> {
  try {
    const res = await s.iq("get", xml("pubsub", { xmlns: NS_PUBSUB_OWNER }, xml("affiliations", { node })), {
      to: s.jid,
    });
    const affs =
      res.getChild("pubsub", NS_PUBSUB_OWNER)?.getChild("affiliations")?.getChildren("affiliation") ?? [];
    return affs
      .filter((a) => a.attrs.jid && a.attrs.affiliation)
      .map((a) => ({ jid: a.attrs.jid as string, affiliation: a.attrs.affiliation as string }));
  } catch (err) {
    // Optional feature; an account without affiliations support still exports.
    if (err instanceof XmppStanzaError) return [];
    throw err;
  }
}

/** All items of a node, oldest first. */
export async function getItems(s: AccountSession, node: string): Promise<PepItem[]> {
  const res = await s.iq("get", xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node })), { to: s.jid });
  const items = res.getChild("pubsub", NS_PUBSUB)?.getChild("items")?.getChildren("item") ?? [];
  // Prosody returns newest first (archive_itemstore reverse=true); the model is oldest first.
  return parsePepItems(items).reverse();
}

/** <item id [publisher] [timestamp]>payload</item> elements → items; items without id or payload are dropped. */
export function parsePepItems(items: Element[]): PepItem[] {
  const parsed: PepItem[] = [];
  for (const it of items) {
    const payload = it.getChildElements()[0];
    if (!it.attrs.id || !payload) continue;
    parsed.push({
      id: it.attrs.id,
      payload,
      ...(it.attrs.publisher ? { publisher: it.attrs.publisher } : {}),
      ...(it.attrs.timestamp ? { timestamp: it.attrs.timestamp } : {}),
    });
  }
  return parsed;
}

export async function readPepNode(s: AccountSession, node: string): Promise<PepNode> {
  const [config, items, affiliations] = await Promise.all([
    getNodeConfig(s, node),
    getItems(s, node),
    getAffiliations(s, node),
  ]);
  return { node, config, items, affiliations };
}

export async function publish(
  s: AccountSession,
  node: string,
  item: { id: string; payload: Element },
  options?: NodeConfig,
): Promise<void> {
  const build = (): Element =>
    xml(
      "pubsub",
      { xmlns: NS_PUBSUB },
      xml("publish", { node }, xml("item", { id: item.id }, cloneElement(item.payload))),
      options && options.size > 0
        ? xml("publish-options", {}, renderSubmitForm(PUBLISH_OPTIONS_FORM, options))
        : null,
    );
  try {
    await s.iq("set", build(), { to: s.jid });
  } catch (err) {
    // The node exists with other options: reconfigure it, then publish again (XEP-0060 §7.1.5).
    if (err instanceof XmppStanzaError && err.condition === "conflict" && options && options.size > 0) {
      await configureNode(s, node, options);
      await s.iq("set", build(), { to: s.jid });
      return;
    }
    throw err;
  }
}

export async function configureNode(s: AccountSession, node: string, config: NodeConfig): Promise<void> {
  await s.iq(
    "set",
    xml(
      "pubsub",
      { xmlns: NS_PUBSUB_OWNER },
      xml("configure", { node }, renderSubmitForm(NODE_CONFIG_FORM, config)),
    ),
    { to: s.jid },
  );
}

/** Import: publish every item oldest → newest with the node's (adapted) options. Returns warnings. */
export async function publishPepNode(s: AccountSession, node: PepNode): Promise<string[]> {
  const { config, warnings } = adaptConfigForProsody(node.config, node.node);
  // Keep every item when the source kept several (Prosody's default max_items is 1).
  if (!config.has("pubsub#max_items") && node.items.length > 1) {
    config.set("pubsub#max_items", [String(Math.min(node.items.length, PROSODY_MAX_ITEMS))]);
  }
  for (const item of node.items) await publish(s, node.node, item, config);
  return warnings;
}
