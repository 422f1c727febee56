// Records → XEP-0227 file: the export end of the pipeline. PEP nodes are gathered until the PEP
// records end (the writer puts all node configurations, then all items, in two sections).
import type { PepNode } from "../account/model.js";
import type { ArchiveWriter } from "../xep0227/writer.js";
import type { ArchiveRecord } from "../xep0227/records.js";

export async function writeRecords(records: AsyncIterable<ArchiveRecord>, w: ArchiveWriter): Promise<void> {
  let pep: PepNode[] = [];
  const flushPep = async (): Promise<void> => {
    if (pep.length > 0) await w.pep(pep);
    pep = [];
  };
  for await (const r of records) {
    if (r.kind !== "pep-node" && r.kind !== "pep-items") await flushPep();
    switch (r.kind) {
      case "user":
        await w.begin(r.host, r.name);
        break;
      case "roster":
        await w.roster(r.items);
        break;
      case "vcard":
        await w.vcard(r.vcard);
        break;
      case "pep-node":
        pep.push({ node: r.node, config: r.config, affiliations: r.affiliations, items: [] });
        break;
      case "pep-items": {
        const node = pep.find((n) => n.node === r.node);
        if (node) node.items.push(...r.items);
        else pep.push({ node: r.node, config: new Map(), affiliations: [], items: [...r.items] });
        break;
      }
      case "private":
        await w.privateXml(r.payloads);
        break;
      case "blocklist":
        await w.blocklist(r.jids);
        break;
      case "archive":
        await w.archiveMessage(r.message);
        break;
      case "offline":
        await w.offlineMessage(r.message);
        break;
      case "user-end":
        await w.end();
        break;
      default:
        break;
    }
  }
}
