import t from "tap";
import { nextRun } from "../../../src/exodus/schedule.js";
import { fillNotice } from "../../../src/exodus/notice.js";

t.test("next run steps by the period until after now", async (t) => {
  const from = new Date("2026-01-31T10:00:00Z");
  t.equal(nextRun(from, "weekly", from).toISOString(), "2026-02-07T10:00:00.000Z");
  // Down for three weeks: one catch-up run, not three.
  t.equal(
    nextRun(from, "weekly", new Date("2026-02-20T00:00:00Z")).toISOString(),
    "2026-02-21T10:00:00.000Z",
  );
  t.equal(
    nextRun(new Date("2026-03-15T08:00:00Z"), "monthly", new Date("2026-03-15T08:00:00Z")).toISOString(),
    "2026-04-15T08:00:00.000Z",
  );
});

t.test("notice placeholders are filled; a text without {link} still carries the link", async (t) => {
  const f = {
    account: "ada@example.org",
    link: "https://x/download/T",
    expires: new Date("2026-02-01T12:30:00Z"),
    bytes: 3 * 1024 * 1024,
    contents: "roster: 3",
  };
  t.equal(
    fillNotice("{account} on {host}: {size}, {contents}, until {expires}: {link} {unknown}", f),
    "ada@example.org on example.org: 3.0 MiB, roster: 3, until 2026-02-01 12:30: https://x/download/T {unknown}",
  );
  t.equal(fillNotice("Bye {account}", f), "Bye ada@example.org\nhttps://x/download/T");
});
