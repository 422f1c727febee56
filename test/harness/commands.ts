// Running ad-hoc commands (XEP-0050) as a real client: the first stage, then optionally submitting a form.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import type { TestClient } from "./clients.js";

const NS_CMD = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";

/** Starts `node`; with `fields`, submits them to the first form and returns that reply's <command/>. */
export async function runCommand(
  client: TestClient,
  to: string,
  node: string,
  fields?: Record<string, string>,
): Promise<Element> {
  const first = (
    await client.request(xml("iq", { type: "set", to }, xml("command", { xmlns: NS_CMD, node })))
  ).getChild("command", NS_CMD);
  if (!first) throw new Error(`no <command/> in the reply to ${node}`);
  if (!fields) return first;
  const submitted = (
    await client.request(
      xml(
        "iq",
        { type: "set", to },
        xml(
          "command",
          { xmlns: NS_CMD, node, sessionid: first.attrs.sessionid, action: "complete" },
          xml(
            "x",
            { xmlns: NS_DATA, type: "submit" },
            Object.entries(fields).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
          ),
        ),
      ),
    )
  ).getChild("command", NS_CMD);
  if (!submitted) throw new Error(`no <command/> in the reply to ${node}'s form`);
  return submitted;
}

/** The notes' texts, joined by newlines. */
export function notes(command: Element): string {
  return command
    .getChildren("note")
    .map((n) => n.getText())
    .join("\n");
}

/** Rows of the first result table (XEP-0004 reported/item), as var → value. */
export function tableRows(command: Element): Record<string, string>[] {
  const x = command.getChildren("x", NS_DATA).find((e) => e.attrs.type === "result");
  return (x?.getChildren("item") ?? []).map((item) =>
    Object.fromEntries(
      item.getChildren("field").map((f) => [f.attrs.var ?? "", f.getChildText("value") ?? ""]),
    ),
  );
}

/** One stage of an ad-hoc command: `fields` submitted (a list for multi-value fields) with `action`. */
export async function commandStage(
  client: TestClient,
  to: string,
  node: string,
  sessionid?: string,
  fields?: Record<string, string | string[]>,
  action = "execute",
  timeoutMs = 60_000,
): Promise<Element> {
  const x = fields
    ? xml(
        "x",
        { xmlns: NS_DATA, type: "submit" },
        Object.entries(fields).map(([k, v]) =>
          xml(
            "field",
            { var: k },
            (Array.isArray(v) ? v : [v]).map((one) => xml("value", {}, one)),
          ),
        ),
      )
    : null;
  const res = await client.request(
    xml("iq", { type: "set", to }, xml("command", { xmlns: NS_CMD, node, sessionid, action }, x)),
    timeoutMs,
  );
  const command = res.getChild("command", NS_CMD);
  if (!command) throw new Error(`no <command/> in the reply to ${node}`);
  return command;
}

/** commandStage bound to one component: `step(client, node, sessionid?, fields?, action?)`. */
export function stagesOf(
  to: string,
): (
  client: TestClient,
  node: string,
  sessionid?: string,
  fields?: Record<string, string | string[]>,
  action?: string,
) => Promise<Element> {
  return (client, node, sessionid, fields, action) =>
    commandStage(client, to, node, sessionid, fields, action);
}
