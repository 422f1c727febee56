// admin-selftest: per served host, which capabilities are granted and which actually work, probed
// with harmless reads against an account the admin names (their own by default).
import type { Command, Note } from "../adhoc/command.js";
import { renderTable } from "../adhoc/forms.js";
import { CAPABILITY_INFO, probeCapabilities, type ProbeResult } from "../account/capabilities.js";
import type { AppServices } from "../app.js";
import { domainOf } from "../adhoc/router.js";

export function adminSelftest(s: AppServices): Command {
  return {
    node: "admin-selftest",
    name: "Self-test: server capabilities",
    access: "admin",
    async start(ctx) {
      return {
        status: "executing",
        action: "complete",
        form: {
          title: "Self-test",
          instructions:
            "Probes each served domain with read-only requests as the accounts below (one per domain).",
          fields: [
            { var: "accounts", type: "jid-multi", label: "Accounts to probe with", value: [ctx.user] },
          ],
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
                notes.push({
                  type: "warn",
                  text: `${host}: ${CAPABILITY_INFO[r.capability].name} missing (${CAPABILITY_INFO[r.capability].fix})`,
                });
              }
            }
          }
          if (!notes.some((n) => n.type === "warn"))
            notes.push({ type: "info", text: "Everything probed works." });
          return {
            status: "completed",
            notes,
            payloads: [
              renderTable({
                title: "Capabilities",
                columns: [
                  { var: "host", label: "Domain" },
                  { var: "capability", label: "Capability" },
                  { var: "granted", label: "Granted" },
                  { var: "working", label: "Working" },
                  { var: "detail", label: "Detail" },
                ],
                rows,
              }),
            ],
          };
        },
      };
    },
  };
}
