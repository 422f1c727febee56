import t from "tap";
import xml from "@xmpp/xml";
import {
  FormValues,
  FormError,
  missingRequired,
  renderForm,
  renderTable,
  type FormSpec,
} from "../../../src/adhoc/forms.js";

const spec: FormSpec = {
  title: "Export",
  instructions: "Choose",
  formType: "urn:test:export",
  fields: [
    { var: "history", type: "boolean", label: "History", value: true },
    {
      var: "parts",
      type: "list-multi",
      value: ["roster"],
      options: [{ value: "roster", label: "Contacts" }, { value: "pep" }],
    },
    { var: "note", type: "text-multi", value: "a\nb" },
    { var: "target", type: "jid-single", required: true, label: "New address" },
  ],
};

t.test("renders a form with FORM_TYPE, typed fields, options and multi-line text", async (t) => {
  const x = renderForm(spec);
  t.equal(x.attrs.type, "form");
  t.equal(x.getChildText("title"), "Export");
  const fields = x.getChildren("field");
  t.equal(fields[0]?.attrs.var, "FORM_TYPE");
  t.equal(fields[0]?.attrs.type, "hidden");
  t.equal(fields[1]?.getChildText("value"), "true");
  t.same(
    fields[2]?.getChildren("option").map((o) => o.getChildText("value")),
    ["roster", "pep"],
  );
  t.same(
    fields[2]?.getChildren("option").map((o) => o.attrs.label),
    ["Contacts", "pep"],
    "an option without a label is labelled with its value (profanity printed '(null)')",
  );
  t.same(
    fields[3]?.getChildren("value").map((v) => v.getText()),
    ["a", "b"],
  );
  t.ok(fields[4]?.getChild("required"));
});

t.test("booleans accept 1/0/true/false and reject garbage", async (t) => {
  const sub = (v: string) =>
    FormValues.parse(
      xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "b" }, xml("value", {}, v))),
    );
  t.equal(sub("1").bool("b"), true);
  t.equal(sub("true").bool("b"), true);
  t.equal(sub("0").bool("b", true), false);
  t.equal(sub("false").bool("b", true), false);
  t.equal(FormValues.empty().bool("b", true), true, "absent uses default");
  t.throws(() => sub("yes").bool("b"), FormError);
});

t.test("missing required fields are reported by label", async (t) => {
  t.same(missingRequired(spec, FormValues.empty()), ["New address"]);
  const filled = FormValues.parse(
    xml("x", { xmlns: "jabber:x:data" }, xml("field", { var: "target" }, xml("value", {}, "a@b"))),
  );
  t.same(missingRequired(spec, filled), []);
});

t.test("tables put <reported/> before items", async (t) => {
  const x = renderTable({ columns: { id: "Id" }, rows: [{ id: "1" }, { id: "2" }] });
  const kids = x.getChildElements().map((c) => c.name);
  t.same(kids, ["reported", "item", "item"]);
});
