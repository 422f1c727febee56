// admin-selftest: per served host, which capabilities are granted and which actually work, probed
// with harmless reads against an account the admin names (their own by default).
import { command, type Command, type Note } from "../adhoc/command.js";
import { completedWithTable } from "../adhoc/command.js";
import {
  CAPABILITY_INFO,
  probeAdvice,
  probeCapabilities,
  type ProbeResult,
} from "../account/capabilities.js";
import type { AppServices } from "../services.js";
import { domainOf } from "../xmpp/jid.js";

export function adminSelftest(s: AppServices): Command {
  return command("admin-selftest", "Self-test: server capabilities", "admin", async (ctx) => {
    return {
      status: "executing",
      action: "complete",
      form: {
        title: "Self-test",
        instructions:
          "Probes each served domain with read-only requests as the accounts below (one per domain).",
        fields: [{ var: "accounts", type: "jid-multi", label: "Accounts to probe with", value: [ctx.user] }],
      },
      async onSubmit(values) {
        const accounts = values
          .list("accounts")
          .map((a) => a.trim().toLowerCase())
          .filter(Boolean);
        const rows: Record<string, string>[] = [];
        const notes: Note[] = [];
        for (const host of s.config.xmppHosts) {
          const privileges = await s.privileges.waitFor(host, 1000);
          const account = accounts.find((a) => domainOf(a) === host);
          let results: ProbeResult[];
          if (account) {
            results = await probeCapabilities(s.link, privileges, account, s.companion);
          } else {
            results = (await probeCapabilities(s.link, privileges, `nobody@${host}`, s.companion)).map(
              (r) => ({
                ...r,
                working: false,
                detail: "not probed (no account on this domain given)",
              }),
            );
          }
          if (!privileges)
            notes.push({ type: "warn", text: `${host}: advertised no privileges to this component` });
          for (const r of results) {
            rows.push({
              host,
              capability: CAPABILITY_INFO[r.capability].name,
              granted: r.granted ? "yes" : "no",
              working: r.working ? "yes" : "no",
              detail: r.detail,
            });
            if (account && !r.working) {
              notes.push({ type: "warn", text: `${host}: ${probeAdvice(r)}` });
            }
          }
        }
        if (!notes.some((n) => n.type === "warn"))
          notes.push({ type: "info", text: "Everything probed works." });
        notes.push({
          type: "info",
          text: `Largest stanza sent: ${s.config.stanzaLimitBytes / 1024} KiB (STANZA_LIMIT_KB; keep it well under Prosody's component_stanza_size_limit, 512 KiB by default).`,
        });
        return completedWithTable(notes, {
          title: "Capabilities",
          columns: {
            host: "Domain",
            capability: "Capability",
            granted: "Granted",
            working: "Working",
            detail: "Detail",
          },
          rows,
        });
      },
    };
  });
}
