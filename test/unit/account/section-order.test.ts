import t from "tap";
import { inSectionOrder } from "../../../src/account/model.js";
import { TransferReport } from "../../../src/transfer/report.js";

t.test("sections are listed in archive order, whatever order they were stored in", async (t) => {
  // Key order as Postgres's jsonb gives it back (shorter keys first), seen in a rerun's ready message.
  const fromJsonb = { pep: 1, vcard: 1, roster: 1, archive: 6, "pep-items": 1 };
  t.same(inSectionOrder(Object.entries(fromJsonb)), [
    ["roster", 1],
    ["vcard", 1],
    ["pep", 1],
    ["pep-items", 1],
    ["archive", 6],
  ]);
  t.same(
    inSectionOrder(Object.entries({ zeta: 2, archive: 1, alpha: 3 })),
    [
      ["archive", 1],
      ["zeta", 2],
      ["alpha", 3],
    ],
    "unknown names last, in their given order",
  );
});

t.test("a resumed import's report reads as the uninterrupted one", async (t) => {
  const live = new TransferReport();
  live.count("roster", "applied", 2);
  live.count("vcard", "kept");
  live.count("archive", "applied", 10);
  // A resumed job rebuilds its report from a jsonb column.
  const saved = JSON.parse(
    JSON.stringify({
      sections: { vcard: live.sections.vcard, archive: live.sections.archive, roster: live.sections.roster },
      notes: [],
    }),
  ) as unknown;
  const resumed = TransferReport.from(saved);
  t.equal(resumed.summary(), live.summary());
  t.equal(live.summary(), "roster: 2 applied; vcard: 0 applied, 1 kept (yours); archive: 10 applied");
});
