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
