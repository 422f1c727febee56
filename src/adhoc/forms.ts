// XEP-0004 data forms: one declaration renders the form and reads the submission (Prosody's
// util.dataforms idea). Booleans accept 1/0/true/false (XEP-0004 §3.3: MUST support both).
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";
import { NS_DATA } from "../xmpp/namespaces.js";

export type FieldType =
  | "boolean"
  | "fixed"
  | "hidden"
  | "jid-single"
  | "jid-multi"
  | "list-single"
  | "list-multi"
  | "text-single"
  | "text-multi"
  | "text-private";

export interface FieldOption {
  value: string;
  label?: string;
}

export interface FieldSpec {
  var?: string;
  type: FieldType;
  label?: string;
  desc?: string;
  required?: boolean;
  value?: string | string[] | boolean | number;
  options?: FieldOption[];
}

export interface FormSpec {
  type?: "form" | "result";
  title?: string;
  instructions?: string | string[];
  /** Hidden FORM_TYPE (XEP-0068). */
  formType?: string;
  fields: FieldSpec[];
}

export interface TableSpec {
  title?: string;
  /** Column var → label, in display order. */
  columns: Record<string, string>;
  rows: Record<string, string>[];
}

export function renderForm(spec: FormSpec): Element {
  const x = xml("x", { xmlns: NS_DATA, type: spec.type ?? "form" });
  if (spec.title) x.append(xml("title", {}, spec.title));
  const instructions =
    typeof spec.instructions === "string" ? [spec.instructions] : (spec.instructions ?? []);
  for (const line of instructions) x.append(xml("instructions", {}, line));
  if (spec.formType)
    x.append(xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, spec.formType)));
  for (const f of spec.fields) x.append(renderField(f));
  return x;
}

function renderField(f: FieldSpec): Element {
  const el = xml("field", { var: f.var, type: f.type, label: f.label });
  if (f.desc) el.append(xml("desc", {}, f.desc));
  if (f.required) el.append(xml("required"));
  for (const v of valuesOf(f)) el.append(xml("value", {}, v));
  for (const o of f.options ?? [])
    el.append(xml("option", { label: o.label ?? o.value }, xml("value", {}, o.value)));
  return el;
}

function valuesOf(f: FieldSpec): string[] {
  const v = f.value;
  if (v === undefined) return [];
  if (typeof v === "boolean") return [v ? "true" : "false"];
  if (typeof v === "number") return [String(v)];
  if (Array.isArray(v)) return v;
  // text-multi carries one <value/> per line.
  return f.type === "text-multi" ? v.split("\n") : [v];
}

/** A result table: <reported/> header first, then one <item/> per row (XEP-0004 §3.4). */
export function renderTable(spec: TableSpec): Element {
  const x = xml("x", { xmlns: NS_DATA, type: "result" });
  if (spec.title) x.append(xml("title", {}, spec.title));
  x.append(
    xml(
      "reported",
      {},
      Object.entries(spec.columns).map(([v, label]) => xml("field", { var: v, label, type: "text-single" })),
    ),
  );
  for (const row of spec.rows) {
    x.append(
      xml(
        "item",
        {},
        Object.keys(spec.columns).map((v) => xml("field", { var: v }, xml("value", {}, row[v] ?? ""))),
      ),
    );
  }
  return x;
}

/**
 * The table as text lines, one per row ("- first: label value, label value"), for clients that show
 * only notes (profanity shows neither <reported/> nor <item/>).
 */
export function tableLines(spec: TableSpec): string[] {
  const [first, ...rest] = Object.entries(spec.columns);
  if (!first) return [];
  return spec.rows.map((row) => {
    const parts = rest
      .filter(([v]) => (row[v] ?? "") !== "")
      .map(([v, label]) => `${label.toLowerCase()} ${row[v] ?? ""}`);
    return `- ${row[first[0]] ?? ""}${parts.length > 0 ? `: ${parts.join(", ")}` : ""}`;
  });
}

export class FormError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormError";
  }
}

/** Values of a submitted form. Unknown fields are kept but ignored by callers (XEP-0004 §3.2). */
export class FormValues {
  constructor(readonly values: ReadonlyMap<string, string[]>) {}

  static empty(): FormValues {
    return new FormValues(new Map());
  }

  static parse(x: Element | undefined): FormValues {
    const map = new Map<string, string[]>();
    if (!x) return new FormValues(map);
    for (const field of x.getChildren("field")) {
      const name = field.attrs.var;
      if (!name) continue;
      map.set(
        name,
        field.getChildren("value").map((v) => v.getText()),
      );
    }
    return new FormValues(map);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  text(name: string, dflt = ""): string {
    const v = this.values.get(name);
    if (!v || v.length === 0) return dflt;
    return v.join("\n");
  }

  list(name: string, dflt: string[] = []): string[] {
    return this.values.get(name) ?? dflt;
  }

  bool(name: string, dflt = false): boolean {
    const v = this.values.get(name)?.[0]?.trim().toLowerCase();
    if (v === undefined || v === "") return dflt;
    if (v === "1" || v === "true") return true;
    if (v === "0" || v === "false") return false;
    throw new FormError(`field "${name}" must be a boolean`);
  }
}

/** Names of required fields of `spec` that the submission left empty. */
export function missingRequired(spec: FormSpec, values: FormValues): string[] {
  return spec.fields
    .filter((f) => f.required && f.var && f.type !== "fixed")
    .filter((f) => values.text(f.var as string).trim() === "")
    .map((f) => f.label ?? (f.var as string));
}
