import xml from "@xmpp/xml";
import { SQL_ARCHIVE_STORE, startProsody } from "../test/harness/prosody.js";
import { connectClient } from "../test/harness/clients.js";
const prosody = await startProsody({ companion: true, storage: "sql" });
await prosody.register("alice", "localhost", "pw");
await prosody.register("bob", "localhost", "pw");
const a = await connectClient(prosody, "alice", "localhost", "pw");
const b = await connectClient(prosody, "bob", "localhost", "pw");
for (let i = 0; i < 5; i++) await b.xmpp.send(xml("message", { to: "alice@localhost", type: "chat" }, xml("body", {}, "x" + i)));
await new Promise((r) => setTimeout(r, 1000));
for (const max of ["0", "1"]) {
  const fin = await a.request(xml("iq", { type: "set" }, xml("query", { xmlns: "urn:xmpp:mam:2" }, xml("set", { xmlns: "http://jabber.org/protocol/rsm" }, xml("max", {}, max)))));
  console.log(max, fin.toString());
}
void SQL_ARCHIVE_STORE;
await a.stop(); await b.stop(); await prosody.cleanup(); process.exit(0);
