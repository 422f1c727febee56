// Small helpers ltx lacks as methods.
import xml from "@xmpp/xml";
import type { Element } from "@xmpp/xml";

/** Deep copy (ltx elements are mutable and keep one parent). */
export function cloneElement(el: Element): Element {
  const copy = xml(el.name, { ...el.attrs });
  for (const child of el.children) copy.append(typeof child === "string" ? child : cloneElement(child));
  return copy;
}
