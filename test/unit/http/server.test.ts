import t from "tap";
import { Readable } from "node:stream";
import { startHttpServer, HttpError } from "../../../src/http/server.js";
import { newToken, hashToken, isWellFormedToken } from "../../../src/http/tokens.js";
import { createLogger } from "../../../src/log/logger.js";

t.test("tokens are unguessable, well-formed and stored only as hashes", async (t) => {
  const a = newToken();
  const b = newToken();
  t.not(a.token, b.token);
  t.ok(isWellFormedToken(a.token));
  t.equal(a.hash, hashToken(a.token));
  t.not(a.hash, a.token);
  t.notOk(isWellFormedToken("../../etc/passwd"));
});

t.test(
  "download streams with length and disposition; unknown tokens 404; uploads reach the route",
  async (t) => {
    const good = newToken().token;
    const body = "<server-data/>".repeat(1000);
    const uploads: string[] = [];
    const srv = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      {
        download: async (tok) =>
          tok === good
            ? {
                filename: 'a"b.xml',
                contentType: "application/xml",
                size: body.length,
                open: () => Readable.from([body]),
              }
            : null,
        upload: async (tok, stream) => {
          if (tok !== good) throw new HttpError(404, "unknown upload link");
          let s = "";
          for await (const c of stream) s += String(c);
          uploads.push(s);
          return "received";
        },
      },
      createLogger("silent"),
    );
    t.teardown(() => srv.close());
    const base = `http://127.0.0.1:${srv.port}`;
    const res = await fetch(`${base}/download/${good}`);
    t.equal(res.status, 200);
    t.equal(res.headers.get("content-length"), String(body.length));
    t.match(res.headers.get("content-disposition"), /attachment; filename="a_b.xml"/);
    t.equal(await res.text(), body);
    t.equal((await fetch(`${base}/download/${newToken().token}`)).status, 404);
    t.equal((await fetch(`${base}/download/short`)).status, 404);
    t.equal((await fetch(`${base}/other/${good}`)).status, 404);
    const up = await fetch(`${base}/upload/${good}`, { method: "PUT", body: "hello" });
    t.equal(up.status, 200);
    t.same(uploads, ["hello"]);
    t.equal((await fetch(`${base}/upload/${newToken().token}`, { method: "PUT", body: "x" })).status, 404);
  },
);
