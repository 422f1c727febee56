// The upload and download links opened in a real browser (headless Chromium over the DevTools
// protocol): the upload page's plain HTML form sends the chosen file, the preview follows in the
// user's client, a used link says so, a refused file gets a page saying why, and an export's download
// link saves the archive.
import t from "tap";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { appWithUser } from "../harness/app.js";
import { commandStep, formText, openStaged, realUrl, uploadLink } from "../harness/import-flow.js";
import { evaluate, goto, launchBrowser, type Browser } from "../harness/browser.js";

const COMPONENT = "portability.localhost";
const FIXTURES = fileURLToPath(new URL("../fixtures/xep0227/ejabberd-23.01/", import.meta.url));

async function chooseAndSubmit(b: Browser, page: string, file: string): Promise<string> {
  const { root } = await b.send("DOM.getDocument", {}, page);
  const { nodeId } = await b.send(
    "DOM.querySelector",
    { nodeId: (root as { nodeId: number }).nodeId, selector: "input[type=file]" },
    page,
  );
  await b.send("DOM.setFileInputFiles", { files: [file], nodeId }, page);
  const loaded = b.event("Page.loadEventFired");
  await evaluate(b, page, "document.querySelector('button[type=submit]').click()");
  await loaded;
  return String(await evaluate(b, page, "document.body.innerText"));
}

t.test("upload page in a browser: form, file sent, preview follows; download link saves", async (t) => {
  t.setTimeout(240_000);
  const { app, client: dora } = await appWithUser(t, "dora", "example.test");
  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage();

  const url = await uploadLink(dora, COMPONENT, app);
  await goto(browser, page, url);
  const text = String(await evaluate(browser, page, "document.body.innerText"));
  t.match(text, /Upload your account archive/);
  t.match(text, /Largest file: 500 MB/);
  t.match(text, /run “Import an account archive” again/);
  t.same(
    await evaluate(
      browser,
      page,
      "[document.forms.length, document.forms[0].method, document.forms[0].enctype, document.forms[0].action === location.href, document.scripts.length]",
    ),
    [1, "post", "multipart/form-data", true, 0],
    "one plain form posting multipart to the same link, no script",
  );

  const done = await chooseAndSubmit(browser, page, path.join(FIXTURES, "localhost.xml"));
  t.match(done, /Archive received/);
  await dora.waitFor(
    (m) => m.attrs.from === COMPONENT && /Received your archive/.test(m.getChildText("body") ?? ""),
  );
  const preview = await openStaged(dora, COMPONENT);
  t.match(formText(preview), /Account in the archive: dora@localhost/);
  t.match(formText(preview), /contacts: 2/, "the file sent by the browser is the one previewed");

  await goto(browser, page, url);
  t.match(String(await evaluate(browser, page, "document.body.innerText")), /unknown, used or expired/);

  // A refused file: the page says why (here: ejabberd's main file, naming the file to send instead).
  await goto(browser, page, await uploadLink(dora, COMPONENT, app));
  const refused = await chooseAndSubmit(browser, page, path.join(FIXTURES, "main.xml"));
  t.match(refused, /Upload not accepted/);
  t.match(refused, /Upload localhost\.xml instead/);

  // Download link: an export, saved by the browser.
  const downloads = await mkdtemp(path.join(tmpdir(), "portability-downloads-"));
  t.teardown(() => rm(downloads, { recursive: true, force: true }));
  const ex = await commandStep(dora, COMPONENT, "export");
  await commandStep(dora, COMPONENT, "export", { sessionid: ex.attrs.sessionid, action: "complete" });
  const ready = await dora.waitFor(
    (m) => m.attrs.from === COMPONENT && /is ready/.test(m.getChildText("body") ?? ""),
    120_000,
  );
  await browser.send("Browser.setDownloadBehavior", {
    behavior: "allow",
    downloadPath: downloads,
    eventsEnabled: true,
  });
  const saved = browser.event("Browser.downloadProgress", (p) => p.state === "completed");
  await browser.send(
    "Page.navigate",
    { url: realUrl(ready.getChild("x", "jabber:x:oob")?.getChildText("url") ?? "", app) },
    page,
  );
  await saved;
  const files = await readdir(downloads);
  t.equal(files.length, 1, `saved ${files.join(", ")}`);
  const xml = gunzipSync(await readFile(path.join(downloads, files[0] ?? ""))).toString();
  t.match(xml, /<server-data xmlns=['"]urn:xmpp:pie:0['"]/);
});
