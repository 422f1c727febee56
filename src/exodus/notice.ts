// The chat message that carries a bulk or scheduled export's link. Admins edit the text in the form;
// placeholders in braces are filled per account, unknown ones are left as typed.
import { domainOf } from "../xmpp/jid.js";
import { formatBytes } from "../text/bytes.js";

export interface NoticeFields {
  account: string;
  link: string;
  expires: Date;
  bytes: number;
  /** "roster: 12, archive: 500, …" */
  contents: string;
}

export const NOTICE_PLACEHOLDERS = "{account} {host} {link} {expires} {size} {contents}";

export const DEFAULT_BULK_NOTICE = `Your account {account} has been exported for you: this server is closing down or moving.

The file ({size}, XEP-0227 format) holds your contacts, profile and vCard, bookmarks, client settings, blocklist and message history ({contents}).
Download it before {expires} UTC: {link}
This link is only for you; do not share it.

To move:
- Create an account on another server, then run the command "Move my account away" (move-away) here: your contacts are asked to follow you to the new address.
- Or import the file on the new server: "Import an account" if it runs this tool, or prosody-migrator / ejabberd's import_piefxis.`;

export const SCHEDULED_NOTICE = `Your scheduled export of {account} is ready ({size}; {contents}).
Download it before {expires} UTC: {link}
Change or stop the schedule with the command "Scheduled exports" (export-schedule).`;

export function fillNotice(template: string, f: NoticeFields): string {
  const values: Record<string, string> = {
    account: f.account,
    host: domainOf(f.account),
    link: f.link,
    expires: f.expires.toISOString().slice(0, 16).replace("T", " "),
    size: formatBytes(f.bytes),
    contents: f.contents,
  };
  const filled = template.replace(/\{([a-z]+)\}/g, (m, k: string) => values[k] ?? m);
  // The link must reach the user even when an edited text forgot the placeholder.
  return template.includes("{link}") ? filled : `${filled}\n${f.link}`;
}
