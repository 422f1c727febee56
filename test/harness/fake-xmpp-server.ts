// A scripted client-to-server endpoint on loopback that records every byte a client sends (before and,
// with STARTTLS, after the TLS upgrade). It advertises login mechanisms but never lets anyone in: tests
// use it to prove a password is never sent where it could be read.
import net from "node:net";
import tls from "node:tls";

export interface FakeXmppServer {
  readonly port: number;
  /** Everything received, decrypted where TLS was used. */
  received(): string;
  /** Resolves once a client connected and went away again. */
  closed(): Promise<void>;
  close(): Promise<void>;
}

const SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls";

function header(domain: string): string {
  return (
    `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' ` +
    `id='fake' from='${domain}' version='1.0'>`
  );
}

export async function startFakeXmppServer(opts: {
  domain: string;
  /** Offer STARTTLS with this key and (untrusted) certificate. */
  starttls?: { key: string; cert: string };
}): Promise<FakeXmppServer> {
  let log = "";
  let onClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((raw) => {
    sockets.add(raw);
    let upgraded = false;
    const mechanisms = `<mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>`;
    const onData = (sock: net.Socket) => (d: Buffer) => {
      const s = d.toString();
      log += s;
      if (/<stream:stream/.test(s)) {
        const features =
          opts.starttls && !upgraded ? `<starttls xmlns='${TLS_NS}'><required/></starttls>` : mechanisms;
        sock.write(`${header(opts.domain)}<stream:features>${features}</stream:features>`);
      } else if (/<starttls/.test(s) && opts.starttls) {
        sock.write(`<proceed xmlns='${TLS_NS}'/>`);
        raw.removeAllListeners("data");
        upgraded = true;
        const secure = new tls.TLSSocket(raw, {
          isServer: true,
          key: opts.starttls.key,
          cert: opts.starttls.cert,
        });
        secure.on("data", onData(secure));
        secure.on("error", () => undefined);
      } else if (/<auth/.test(s)) {
        sock.write(`<failure xmlns='${SASL}'><not-authorized/></failure>`);
      }
    };
    raw.on("data", onData(raw));
    raw.on("error", () => undefined);
    raw.on("close", () => {
      sockets.delete(raw);
      onClosed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : 0,
    received: () => log,
    closed: () => closed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
