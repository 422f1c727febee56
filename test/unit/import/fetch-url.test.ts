// What an import link may name, before any request: scheme, port, literal addresses; and which
// addresses count as public.
import t from "tap";
import { UrlRefused, checkImportUrl } from "../../../src/import/fetch-url.js";
import { isPublicAddress } from "../../../src/import/public-address.js";

const SERVED = ["example.org"];

t.test(
  "links: https on 443 anywhere public; http only to served domains on 80; the rest trusted only",
  async (t) => {
    const ok = (u: string, trusted: string[] = []) =>
      t.doesNotThrow(() => checkImportUrl(u, SERVED, trusted), u);
    const no = (u: string, re: RegExp, trusted: string[] = []) => {
      t.throws(() => checkImportUrl(u, SERVED, trusted), UrlRefused, u);
      t.throws(() => checkImportUrl(u, SERVED, trusted), re, u);
    };
    ok("https://files.example.net/a.xml");
    ok("https://files.example.net:443/a.xml");
    ok("http://upload.example.org/a.xml");
    no("http://files.example.net/a.xml", /only https links/);
    no("http://example.org:5432/", /only https links on the standard port/);
    no("https://example.org:5281/file", /only https links on the standard port/);
    no("ftp://example.org/a", /only https links/);
    no("https://user:pw@example.net/", /credentials/);
    no("not a url", /not a valid URL/);
    no("https://127.0.0.1/x", /private or local address/);
    no("https://[::1]/x", /private or local address/);
    no("https://[::ffff:10.0.0.1]/x", /private or local address/);
    no("https://192.168.1.10/x", /private or local address/);
    ok("http://127.0.0.1:8787/download/x", ["127.0.0.1"]);
    ok("https://upload.example.org:5281/file", ["upload.example.org"]);
  },
);

t.test("public addresses", async (t) => {
  for (const a of [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.5.5",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
  ])
    t.notOk(isPublicAddress(a), a);
  for (const a of [
    "::1",
    "::",
    "fd12::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "ff02::1",
    "64:ff9b::a00:1",
  ])
    t.notOk(isPublicAddress(a), a);
  for (const a of ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "172.32.0.1"])
    t.ok(isPublicAddress(a), a);
  t.notOk(isPublicAddress("localhost"), "not an address at all");
});
