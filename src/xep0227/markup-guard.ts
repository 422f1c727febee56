// A chunk-level guard in front of saxes. saxes hands over a text node, an attribute or a comment only
// once it has buffered all of it, so a size limit checked in its events comes too late (a 1 GB
// whitespace run is held in full first). This scanner follows just enough of XML's lexical structure
// (text, tags with quoted attribute values, comments, CDATA, processing instructions) to know how long
// the construct in progress is, and reports where one grows past the limit, before saxes sees it.
// DOCTYPE is refused outright (the reader never accepts one), which also keeps its internal subset,
// the one place where this simple lexing could be misled, out of the picture.

type State = "text" | "lt" | "bang" | "tag" | "quote" | "comment" | "cdata" | "pi";

export interface GuardViolation {
  /** Index in the chunk up to which the input is still within the limits. */
  at: number;
  reason: string;
}

const CDATA_OPEN = "[CDATA[";
/** Inside a tag, what changes the state: its end, or the start of a quoted attribute value. */
const TAG_STOP = /[>"']/g;

export class MarkupGuard {
  private state: State = "text";
  /** Characters in the construct in progress. */
  private run = 0;
  private quote = "";
  /** After "<!": what followed so far (to tell comments from CDATA from declarations). */
  private bang = "";
  /** The last two characters seen inside a comment, CDATA section or PI (their end markers span chunks). */
  private recent = "";

  constructor(private readonly maxRun: number) {}

  /** Scans one chunk; returns the first violation, or null. */
  scan(text: string): GuardViolation | null {
    const len = text.length;
    let pos = 0;
    const tooLong = (at: number): GuardViolation => ({
      at,
      reason: `a text, tag or comment longer than ${Math.floor(this.maxRun / 1024)} KiB`,
    });
    while (pos < len) {
      switch (this.state) {
        case "text": {
          const i = text.indexOf("<", pos);
          const end = i === -1 ? len : i;
          this.run += end - pos;
          if (this.run > this.maxRun) return tooLong(end - (this.run - this.maxRun));
          if (i === -1) return null;
          this.state = "lt";
          this.run = 1;
          pos = i + 1;
          break;
        }
        case "lt": {
          const c = text[pos];
          if (c === "!") {
            this.state = "bang";
            this.bang = "";
            pos++;
          } else if (c === "?") {
            this.state = "pi";
            this.recent = "";
            pos++;
          } else {
            this.state = "tag";
          }
          this.run++;
          break;
        }
        case "bang": {
          const c = text[pos] as string;
          this.bang += c;
          this.run++;
          pos++;
          if (this.bang === "--") {
            this.state = "comment";
            this.recent = "";
          } else if (this.bang === CDATA_OPEN) {
            this.state = "cdata";
            this.recent = "";
          } else if (!"--".startsWith(this.bang) && !CDATA_OPEN.startsWith(this.bang)) {
            return {
              at: pos,
              reason: "DOCTYPE declarations are not allowed (they enable entity expansion attacks)",
            };
          }
          break;
        }
        case "tag": {
          TAG_STOP.lastIndex = pos;
          const i = TAG_STOP.exec(text) ? TAG_STOP.lastIndex - 1 : len;
          this.run += i - pos;
          if (this.run > this.maxRun) return tooLong(i - (this.run - this.maxRun));
          if (i === len) return null;
          const c = text[i] as string;
          this.run++;
          pos = i + 1;
          if (c === ">") {
            this.state = "text";
            this.run = 0;
          } else {
            this.state = "quote";
            this.quote = c;
          }
          break;
        }
        case "quote": {
          const i = text.indexOf(this.quote, pos);
          const end = i === -1 ? len : i;
          this.run += end - pos;
          if (this.run > this.maxRun) return tooLong(end - (this.run - this.maxRun));
          if (i === -1) return null;
          this.run++;
          this.state = "tag";
          pos = i + 1;
          break;
        }
        case "comment":
        case "cdata":
        case "pi": {
          const marker = this.state === "comment" ? "--" : this.state === "cdata" ? "]]" : "?";
          const i = text.indexOf(">", pos);
          const end = i === -1 ? len : i;
          this.run += end - pos;
          if (this.run > this.maxRun) return tooLong(end - (this.run - this.maxRun));
          this.recent = (this.recent + text.slice(Math.max(pos, end - 2), end)).slice(-2);
          if (i === -1) return null;
          pos = i + 1;
          if (this.recent.endsWith(marker)) {
            this.state = "text";
            this.run = 0;
          } else {
            this.run++;
            this.recent = (this.recent + ">").slice(-2);
          }
          break;
        }
      }
    }
    return null;
  }
}
