// The pages a browser sees on an upload link: a file picker that posts to the same link (plain HTML
// form, no JavaScript), and what to do after the upload or when it failed.
const STYLE =
  "body{font-family:system-ui,sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.5}" +
  "button{font-size:1em;padding:.4em 1.2em;margin-top:1em}code{word-break:break-all}";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title>` +
    `<style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>\n`
  );
}

function megabytes(bytes: number): string {
  return `${Math.floor(bytes / (1024 * 1024))} MB`;
}

export function uploadFormPage(o: { limitBytes: number; expiresAt: Date; service: string }): string {
  const expires = o.expiresAt.toISOString().slice(0, 16).replace("T", " ");
  return page(
    "Upload your account archive",
    `<p>Choose the archive file of your old account (XEP-0227: <code>.xml</code>, <code>.xml.gz</code>, or an ` +
      `encrypted export of this service). Largest file: ${megabytes(o.limitBytes)}. This link works once, until ${expires} UTC.</p>` +
      `<form method="post" enctype="multipart/form-data">` +
      `<p><label for="archive">Archive file</label><br><input id="archive" type="file" name="archive" required></p>` +
      `<button type="submit">Upload</button></form>` +
      `<p>Nothing is imported yet: after the upload, go back to your chat with ${escapeHtml(o.service)} and run ` +
      `“Import an account archive” again. It shows what the archive holds and lets you choose what to import.</p>`,
  );
}

export function uploadDonePage(o: { service: string }): string {
  return page(
    "Archive received",
    `<p>Your archive was uploaded and checked. Nothing is imported yet.</p>` +
      `<p>Go back to your chat with ${escapeHtml(o.service)} and run “Import an account archive” again: ` +
      `it shows what the archive holds and lets you choose what to import.</p>`,
  );
}

export function uploadFailedPage(message: string): string {
  return page(
    "Upload not accepted",
    `<p>${escapeHtml(message)}</p><p>Nothing was imported. Get a new upload link with “Import an account archive” ` +
      `and try again with another file.</p>`,
  );
}
