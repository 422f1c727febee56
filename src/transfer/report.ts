// What a transfer did, per section: applied, kept (the account already had its own and it won),
// skipped (with why, in the notes) and failed. Serialisable, so a resumed job continues the same report.

import { inSectionOrder } from "../account/model.js";

export const OUTCOMES = ["applied", "kept", "skipped", "failed"] as const;
export type Outcome = (typeof OUTCOMES)[number];
export type SectionCounts = Record<Outcome, number>;

const MAX_NOTES = 50;

export class TransferReport {
  readonly sections: Record<string, SectionCounts> = {};
  readonly notes: string[] = [];

  count(section: string, outcome: Outcome, n = 1): void {
    const s = (this.sections[section] ??= { applied: 0, kept: 0, skipped: 0, failed: 0 });
    s[outcome] += n;
  }

  note(text: string): void {
    if (this.notes.length < MAX_NOTES && !this.notes.includes(text)) this.notes.push(text);
  }

  toJSON(): { sections: Record<string, SectionCounts>; notes: string[] } {
    return { sections: this.sections, notes: this.notes };
  }

  /** Rebuilds a report saved with toJSON() (a resumed job); anything malformed is ignored. */
  static from(saved: unknown): TransferReport {
    const r = new TransferReport();
    if (!saved || typeof saved !== "object") return r;
    const { sections, notes } = saved as { sections?: unknown; notes?: unknown };
    if (sections && typeof sections === "object") {
      for (const [name, counts] of Object.entries(sections as Record<string, unknown>)) {
        if (!counts || typeof counts !== "object") continue;
        for (const o of OUTCOMES) {
          const n = (counts as Record<string, unknown>)[o];
          if (typeof n === "number" && n > 0) r.count(name, o, n);
        }
      }
    }
    if (Array.isArray(notes)) for (const n of notes) if (typeof n === "string") r.note(n);
    return r;
  }

  /** One line per section: "roster: 3 applied, 1 kept (yours)". */
  summary(): string {
    return inSectionOrder(Object.entries(this.sections))
      .map(([k, v]) => {
        const parts = [`${v.applied} applied`];
        if (v.kept) parts.push(`${v.kept} kept (yours)`);
        if (v.skipped) parts.push(`${v.skipped} skipped`);
        if (v.failed) parts.push(`${v.failed} failed`);
        return `${k}: ${parts.join(", ")}`;
      })
      .join("; ");
  }
}
