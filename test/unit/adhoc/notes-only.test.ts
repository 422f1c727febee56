// Clients that show only the first note (profanity) must still see every line of a result.
import t from "tap";
import { completedWithTable } from "../../../src/adhoc/command.js";
import { tableLines } from "../../../src/adhoc/forms.js";
import { mergeNotes } from "../../../src/adhoc/router.js";

const table = {
  title: "Contacts",
  columns: { contact: "Contact", status: "Status", detail: "Detail" },
  rows: [
    { contact: "erin@localhost", status: "approved", detail: "accepted" },
    { contact: "ghost@unreachable.invalid", status: "failed", detail: "" },
  ],
};

t.test("one line per row, empty cells left out", async (t) => {
  t.same(tableLines(table), [
    "- erin@localhost: status approved, detail accepted",
    "- ghost@unreachable.invalid: status failed",
  ]);
  t.same(tableLines({ ...table, rows: [] }), []);
});

t.test("a result with a table carries its rows in the notes too", async (t) => {
  const r = completedWithTable([{ type: "info", text: "Contacts: 1 approved, 1 failed." }], table);
  if (r.status !== "completed") throw new Error("not completed");
  t.equal(r.payloads?.length, 1, "the table is still there for clients that render it");
  t.match(r.notes?.map((n) => n.text).join("\n"), /Contacts:\n- erin@localhost: status approved/);
});

t.test("notes are merged into one, of the most severe type", async (t) => {
  t.equal(mergeNotes([]), null);
  t.same(
    mergeNotes([
      { type: "info", text: "a" },
      { type: "warn", text: "b" },
      { type: "info", text: "c" },
    ]),
    { type: "warn", text: "a\nb\nc" },
  );
});
